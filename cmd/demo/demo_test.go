package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/socketscience/socketscience/internal/syncbuf"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testConfig(nodes int, headless bool) config {
	return config{nodes: nodes, headless: headless, timeout: 10 * time.Second, addr: "127.0.0.1:0", statusAddr: "127.0.0.1:0", log: zerolog.Nop()}
}

func TestHeadlessServesEveryBeverageOnEveryInstance(t *testing.T) {
	for _, nodes := range []int{1, 3, 5} {
		var out bytes.Buffer
		err := run(context.Background(), testConfig(nodes, true), strings.NewReader(""), &out)
		require.NoError(t, err, out.String())
		want := map[int]string{1: "served 2/2", 3: "served 6/6", 5: "served 10/10"}[nodes]
		assert.Contains(t, out.String(), want+"\n")
		assert.Equal(t, nodes, strings.Count(out.String(), "*serves another coffee*"))
		assert.Contains(t, out.String(), "Room: http://127.0.0.1:")
	}
}

// The demo acts the example out, then posts what is typed and prints the
// room as it grows, until it is interrupted.
func TestInteractive(t *testing.T) {
	in, typing := io.Pipe()
	out := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- run(ctx, testConfig(2, false), in, out) }()
	require.Eventually(t, func() bool { return strings.Count(out.String(), "*serves another coffee*") == 2 }, 10*time.Second, time.Millisecond, "the example acted out")
	_, err := io.WriteString(typing, "hello\n!!/tea\n")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Count(out.String(), "*serves another tea*") == 2 }, 10*time.Second, time.Millisecond)
	assert.Contains(t, out.String(), "you:")
	assert.Contains(t, out.String(), "hello")
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, typing.Close()) // ends the goroutine reading "stdin"
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []config{
		{nodes: 0},
		{nodes: 1, seRoom: 1},
		{nodes: 1, seRoom: 1, seEmail: "a", sePassword: "b", headless: true},
	} {
		assert.Error(t, c.check())
	}
	assert.NoError(t, config{nodes: 1, seRoom: 1, seEmail: "a", sePassword: "b"}.check())
}
