package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScaleChart(t *testing.T) {
	assert.Equal(t, filepath.Join("docs", "benchmarks-scale.svg"), scaleChartPath("docs/benchmarks-latency.svg"))
	assert.Equal(t, filepath.Join("out", "benchmarks-scale.png"), scaleChartPath("out/latency.PNG"))

	path := filepath.Join(t.TempDir(), "charts", "benchmarks-scale.svg")
	pts := []scalePoint{{1, 72000, 2, 150e-6}, {10, 71000, 2, 20e-6}, {100, 71500, 2, 2e-6}, {1000, 71800, 2, 0.5e-6}}
	require.NoError(t, writeScaleChart(path, pts, "60s"))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	svg := string(raw)
	assert.True(t, strings.HasPrefix(strings.TrimSpace(svg), "<?xml") || strings.Contains(svg, "<svg"))
	for _, title := range []string{"heap per idle node", "goroutines per idle node", "process CPU per idle node over 60s"} {
		assert.Contains(t, svg, title)
	}
}

func TestFmtCPU(t *testing.T) {
	assert.Equal(t, "12.5 µs", fmtCPU(12.5e-6))
	assert.Equal(t, "3.20 ms", fmtCPU(3.2e-3))
}
