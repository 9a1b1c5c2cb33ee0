package test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runClock advances clock by step every millisecond of real time until
// the test ends, so that paced posts go out at their pace in fake time.
func runClock(t *testing.T, clock *fakeclock.Clock, step time.Duration) {
	t.Helper()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				clock.Advance(step)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// On IRC's default limits (about 400 bytes a line, a post every 1.1 s) a
// 20 KB payload goes out as some 70 fragments over more than a minute:
// longer than the receivers' reassembly timeout, which must therefore run
// from the last piece, not the first.
func TestAttackFragmentsPacedOnIRCLimits(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	room := memchat.NewRoom(memchat.WithMaxMessageLen(400), memchat.WithPostRate(1100*time.Millisecond, 1))
	sender := connect(t, room, "sender", socketscience.WithClock(clock))
	receiver := connect(t, room, "receiver", socketscience.WithClock(clock))
	got := make(chan string, 1)
	_, err := socketscience.Handle(receiver, "blob", func(ctx context.Context, s string) error {
		got <- s
		return nil
	})
	require.NoError(t, err)
	runClock(t, clock, 100*time.Millisecond)

	blob := strings.Repeat("0123456789", 1500)
	require.NoError(t, sender.Send(context.Background(), socketscience.Payload{"blob": blob}))
	select {
	case s := <-got:
		assert.Equal(t, blob, s)
	case <-time.After(wait):
		t.Fatalf("not delivered; receiver dropped %v", receiver.Stats().Dropped)
	}
	assert.Greater(t, len(room.Transcript()), 40, "it went as fragments")
	closeNodes(t, sender, receiver)
}

// An incomplete payload that times out is counted and logged, not lost in
// silence.
func TestAttackFragmentTimeoutCounted(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	room := memchat.NewRoom()
	receiver := connect(t, room, "receiver", socketscience.WithClock(clock))
	frame, err := messages.Encode(messages.Payload{"blob": strings.Repeat("x", 1000)})
	require.NoError(t, err)
	pieces, err := messages.Fragment(frame, 500, messages.NewFragmentID(7))
	require.NoError(t, err)
	room.Say(bot, pieces[0])
	require.Eventually(t, func() bool { return receiver.Stats().FragmentBytes > 0 }, wait, time.Millisecond)
	clock.Advance(messages.DefaultReassemblyTimeout)
	assert.Equal(t, int64(1), receiver.Stats().Dropped["fragment_timeout"])
	assert.Zero(t, receiver.Stats().FragmentBytes)
	closeNodes(t, receiver)
}

// Instances that share one chat account (SmokeDetector's model, and the
// default) each have their own reassembly budget: two sending 600 KB at
// once, their pieces interleaved by the server's pace, both arrive.
func TestAttackSharedAccountLargePayloads(t *testing.T) {
	room := memchat.NewRoom(memchat.WithMaxMessageLen(4000), memchat.WithPostRate(time.Millisecond, 1))
	a, b := connect(t, room, "a"), connect(t, room, "b")
	receiver := connect(t, room, "receiver")
	got := make(chan int, 2)
	_, err := socketscience.Handle(receiver, "blob", func(ctx context.Context, v struct {
		From int    `json:"from"`
		Data string `json:"data"`
	}) error {
		got <- v.From
		return nil
	})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i, n := range []*socketscience.Node{a, b} {
		wg.Go(func() {
			data := strings.Repeat("y", 600<<10)
			assert.NoError(t, n.Send(context.Background(), socketscience.Payload{"blob": map[string]any{"from": i, "data": data}}))
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			assert.NoError(t, n.Flush(ctx))
		})
	}
	wg.Wait()
	seen := map[int]bool{}
	for range 2 {
		select {
		case from := <-got:
			seen[from] = true
		case <-time.After(wait):
			t.Fatalf("a payload was lost; receiver dropped %v", receiver.Stats().Dropped)
		}
	}
	assert.Len(t, seen, 2)
	assert.Empty(t, receiver.Stats().Dropped)
	closeNodes(t, a, b, receiver)
}

// The largest payload that Send accepts on a connection with a message
// limit arrives: Send counts what receivers will have to hold, pieces'
// overhead included.
func TestAttackLargestAcceptedPayloadArrives(t *testing.T) {
	room := memchat.NewRoom(memchat.WithMaxMessageLen(4200))
	sender, receiver := connect(t, room, "sender"), connect(t, room, "receiver")
	got := make(chan int, 1)
	_, err := socketscience.Handle(receiver, "blob", func(ctx context.Context, s string) error {
		got <- len(s)
		return nil
	})
	require.NoError(t, err)
	// The longest string Send takes, by bisection on Send itself: a payload
	// it refuses is not queued.
	lo, hi := 1, 1<<20
	for lo < hi {
		mid := (lo + hi + 1) / 2
		err := sender.Send(context.Background(), socketscience.Payload{"probe": strings.Repeat("z", mid)})
		if err == nil {
			lo = mid
		} else {
			require.ErrorIs(t, err, socketscience.ErrPayloadTooLarge)
			hi = mid - 1
		}
	}
	require.NoError(t, sender.Send(context.Background(), socketscience.Payload{"blob": strings.Repeat("z", lo)}))
	select {
	case n := <-got:
		assert.Equal(t, lo, n)
	case <-time.After(wait):
		t.Fatalf("the largest accepted payload (%d bytes) was lost; receiver dropped %v", lo, receiver.Stats().Dropped)
	}
	closeNodes(t, sender, receiver)
}
