package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHeadlessServesEveryBeverageOnEveryInstance(t *testing.T) {
	for _, nodes := range []int{1, 3, 5} {
		var out bytes.Buffer
		err := run(context.Background(), config{nodes: nodes, headless: true, timeout: 10 * time.Second, log: zerolog.Nop()}, strings.NewReader(""), &out)
		require.NoError(t, err, out.String())
		want := map[int]string{1: "served 2/2", 3: "served 6/6", 5: "served 10/10"}[nodes]
		assert.Contains(t, out.String(), want+"\n")
		assert.Equal(t, nodes, strings.Count(out.String(), "*serves another coffee*"))
	}
}

// Typed lines go to the room, and the transcript is printed as it grows.
func TestInteractive(t *testing.T) {
	in, typing := io.Pipe()
	out := &syncBuffer{}
	done := make(chan error)
	go func() { done <- run(context.Background(), config{nodes: 2, log: zerolog.Nop()}, in, out) }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Type !!/coffee") }, 10*time.Second, time.Millisecond)
	_, err := io.WriteString(typing, "hello\n!!/tea\n")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Count(out.String(), "*serves another tea*") == 2 }, 10*time.Second, time.Millisecond, out.String())
	assert.Contains(t, out.String(), "you:")
	assert.Contains(t, out.String(), "hello")
	require.NoError(t, typing.Close())
	require.NoError(t, <-done)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
