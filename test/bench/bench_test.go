package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQuickRun runs every scenario of the harness in -quick mode, so that
// it cannot rot: the report must hold each scenario's table and the chart
// must be written. The Python side is skipped only when no python3 with
// msgpack is installed and CI is not "true".
func TestQuickRun(t *testing.T) {
	dir := t.TempDir()
	cfg := config{
		scenarios:     allScenarios,
		rounds:        2,
		quick:         true,
		out:           filepath.Join(dir, "BENCHMARKS.md"),
		chart:         filepath.Join(dir, "latency.svg"),
		requirePython: os.Getenv("CI") == "true",
		command:       "go test ./test/bench/",
	}
	if testing.Verbose() {
		cfg.log = os.Stderr
	}
	if _, err := findPython(""); err != nil && !cfg.requirePython {
		t.Logf("python3 with msgpack not found, the Python side is skipped: %v", err)
	}
	require.NoError(t, run(context.Background(), cfg))

	raw, err := os.ReadFile(cfg.out)
	require.NoError(t, err)
	report := string(raw)
	for _, title := range []string{"1. Inbound throughput", "2. Isolation from a slow handler", "3. End to end on loopback",
		"4. Under a rate limit", "5. Memory", "6. Recovery after an outage"} {
		i := strings.Index(report, "## "+title)
		if !assert.GreaterOrEqual(t, i, 0, "section %q", title) {
			continue
		}
		assert.Contains(t, report[i:], "\n|---|", "section %q has a table", title)
	}
	for _, s := range []string{"## Machine", "| CPU |", "| Go |", "| Python |", "| Date |", "go test ./test/bench/"} {
		assert.Contains(t, report, s)
	}
	if cfg.requirePython {
		assert.Contains(t, report, "msgpack")
		assert.Contains(t, report, "ratio Go / Python")
	}
	chart, err := os.ReadFile(cfg.chart)
	require.NoError(t, err)
	assert.Contains(t, string(chart), "<svg")
}

// A scenario saved by one run is reused by the next: its table is in the
// report, said to be measured earlier, and it is not run again.
func TestReuseSavedSection(t *testing.T) {
	dir := t.TempDir()
	cfg := config{scenarios: []string{"isolation"}, rounds: 1, quick: true, save: filepath.Join(dir, "saved"),
		out: filepath.Join(dir, "first.md"), command: "go test ./test/bench/"}
	require.NoError(t, run(context.Background(), cfg))
	first, err := loadSection(cfg.save, "isolation")
	require.NoError(t, err)
	require.NotEmpty(t, first.Rows)
	first.Rows[0][1] = "a figure only the saved file holds"
	require.NoError(t, saveSection(cfg.save, first))

	cfg.reuse, cfg.out = []string{"isolation"}, filepath.Join(dir, "second.md")
	require.NoError(t, run(context.Background(), cfg))
	raw, err := os.ReadFile(cfg.out)
	require.NoError(t, err)
	assert.Contains(t, string(raw), "a figure only the saved file holds")
	assert.Contains(t, string(raw), "by an earlier run of the harness")
	_, err = loadSection(cfg.save, "memory")
	assert.Error(t, err, "nothing saved for a scenario that did not run")
}

func TestFrameKey(t *testing.T) {
	k, ok := frameKey("<div class='full'>. <br> \x021234abc=\x03</div>")
	assert.True(t, ok)
	assert.Equal(t, "1234abc=", k)
	_, ok = frameKey("hello")
	assert.False(t, ok)
}

func TestPercentile(t *testing.T) {
	assert.Equal(t, spread{Med: 2, Min: 1, Max: 3}, spreadOf([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, spreadOf([]float64{4, 1, 2, 3}).Med)
}

func TestReproduceCommandLeavesOutReuse(t *testing.T) {
	assert.Equal(t, "go run ./test/bench -rounds 7", reproduceCommand([]string{"-save", "/tmp/s", "-rounds", "7", "--reuse=memory"}))
	assert.Equal(t, "go run ./test/bench -out 'a b.md'", reproduceCommand([]string{"-out", "a b.md", "-reuse", "memory,e2e"}))
}
