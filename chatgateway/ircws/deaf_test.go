package ircws_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/ircws"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
)

// maxClose is how long Close may take against a server that never reads.
const maxClose = time.Second

// deafFlood makes sc stop reading and flood the client with PINGs whose
// PONGs are long, and returns once both directions have backed up: the
// flood has stalled (the client no longer reads, as it is stuck writing
// PONGs, or gone).
func deafFlood(t *testing.T, sc *srvConn) *atomic.Int64 {
	t.Helper()
	sc.stopReading()
	var n atomic.Int64
	sc.flood("PING :"+strings.Repeat("f", 400), &n)
	last := int64(-1)
	require.Eventually(t, func() bool {
		now := n.Load()
		stalled := now == last && now > 0
		last = now
		return stalled
	}, 20*time.Second, 100*time.Millisecond, "the flood never stalled")
	return &n
}

// Under a PING flood from a server that never reads, Close returns
// promptly and Read reports the connection closed.
func TestCloseAgainstDeafServer(t *testing.T) {
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			srv := newFakeServer(t, kind)
			clock := fakeclock.New(time.Unix(1e9, 0))
			ch := dialAsync(ircws.Config{URL: srv.URL, Channel: "#bots", Nick: "n", Clock: clock})
			sc := srv.accept()
			sc.welcome("")
			c := await(t, ch)
			n := deafFlood(t, sc)
			start := time.Now()
			require.NoError(t, c.Close())
			took := time.Since(start)
			t.Logf("Close over %s after %d PINGs took %v", kind, n.Load(), took)
			assert.Less(t, took, maxClose)
			_, err := readWithin(t, c)
			assert.ErrorIs(t, err, chatgateway.ErrConnClosed)
		})
	}
}

// A server that keeps sending (a PING a second) but never answers what we
// send: our own unanswered PING fails the connection within the liveness
// timeout, though the server is never silent.
func TestUnansweredPingFailsTheConnection(t *testing.T) {
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			srv := newFakeServer(t, kind)
			clock := fakeclock.New(time.Unix(1e9, 0))
			ch := dialAsync(ircws.Config{URL: srv.URL, Channel: "#bots", Nick: "n", Clock: clock,
				PingInterval: time.Second, LivenessTimeout: 2 * time.Second})
			sc := srv.accept()
			sc.welcome("")
			c := await(t, ch)
			read := make(chan error, 1)
			go func() { _, err := c.Read(); read <- err }()
			var err error
		steps:
			for i := 1; i <= 6; i++ {
				select {
				case err = <-read:
					break steps
				default:
				}
				token := fmt.Sprintf("s%d", i)
				if sc.send("PING :"+token) != nil || !sc.await("PONG :"+token) {
					break
				}
				clock.Advance(time.Second)
			}
			if err == nil {
				select {
				case err = <-read:
				case <-time.After(wait):
					t.Fatal("Read did not fail: a server that answers nothing went undetected")
				}
			}
			assert.ErrorIs(t, err, ircws.ErrSilent)
			t.Logf("failed at %v: %v", clock.Now().Sub(time.Unix(1e9, 0)), err)
		})
	}
}
