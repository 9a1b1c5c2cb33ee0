package actors

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/socketscience/socketscience/internal/protocol"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The router waits Config.ReorderWait, on Config.Clock, for a gap heard
// through two rooms, then hands on what it held; Stop hands on what is
// still held rather than lose it.
func TestRouterReorderWaitAndStop(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	const wait = 300 * time.Millisecond
	f := newFixture(t, Config{Clock: clock, ReorderWait: wait})
	var mu sync.Mutex
	var got []int
	f.register("n", func(_ context.Context, m messages.Message) error {
		var v int
		require.NoError(t, m.Decode(&v))
		mu.Lock()
		got = append(got, v)
		mu.Unlock()
		return nil
	})
	seen := func() []int {
		mu.Lock()
		defer mu.Unlock()
		return append([]int(nil), got...)
	}
	send := func(room int, seq uint64) {
		f.system.Root.Send(f.router.PID(), &protocol.Inbound{Room: room, Chat: protocol.ChatRef{UserID: 1},
			Frame: messages.Frame{Types: []messages.RawType{{Type: "n", Data: []byte{byte(seq)}}}, Envelope: &messages.Envelope{Node: "peer", Incarnation: 1, Seq: seq}}})
	}
	send(0, 1)
	send(1, 1)
	send(0, 3)
	eventually(t, func() bool { return len(seen()) == 1 && clock.Pending() == 1 }, "payload 1 handled, 3 held")
	clock.Advance(wait - time.Nanosecond)
	assert.Equal(t, []int{1}, seen())
	clock.Advance(time.Nanosecond)
	eventually(t, func() bool { return len(seen()) == 2 }, "3 handled once the wait is over")
	assert.Equal(t, int64(1), f.counters.ReorderGaps.Load())

	send(0, 5) // held: 4 is missing
	eventually(t, func() bool { return clock.Pending() == 1 }, "5 held")
	require.NoError(t, f.stop(context.Background()))
	assert.Equal(t, []int{1, 3, 5}, seen())
	assert.Zero(t, clock.Pending(), "no timer outlives the router")
}
