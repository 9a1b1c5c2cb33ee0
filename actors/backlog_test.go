package actors

import (
	"context"
	"testing"
	"time"

	"github.com/socketscience/socketscience/internal/protocol"
	"github.com/socketscience/socketscience/messages"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The router releases the backlog as it routes, so readers that acquire
// for every frame never wait for long; once it stops, no reader waits.
func TestRouterReleasesBacklogAndClosesIt(t *testing.T) {
	backlog := protocol.NewBacklog(4)
	f := newFixture(t, Config{Backlog: backlog})
	got := make(chan struct{}, 100)
	_, err := f.router.Register("t", func(context.Context, messages.Message) error { got <- struct{}{}; return nil })
	require.NoError(t, err)
	// 100 frames through a backlog of 4: only the router's releases let
	// the reader past the fifth.
	fr := frame(t, messages.Payload{"t": 1}, nil)
	go func() {
		for range 100 {
			backlog.Acquire()
			f.send(fr)
		}
	}()
	for i := range 100 {
		select {
		case <-got:
		case <-time.After(waitFor):
			t.Fatalf("handled %d of 100", i)
		}
	}

	for range 4 {
		backlog.Acquire() // messages the router will never see
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, f.stop(ctx))
	done := make(chan struct{})
	go func() {
		backlog.Acquire()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitFor):
		assert.Fail(t, "a reader waits for a router that has stopped")
	}
}
