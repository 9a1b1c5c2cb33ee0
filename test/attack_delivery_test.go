package test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway/gateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A signed post caught in an outage longer than the receivers' clock skew
// is stamped again when it is finally posted (same node, incarnation and
// sequence number), so receivers take it rather than drop it as stale.
func TestAttackSignedPostOutlivesOutage(t *testing.T) {
	secret := socketscience.WithSecret([]byte("shared by the bot's Go nodes"))
	clock := fakeclock.New(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	room := memchat.NewRoom()
	receiver := connect(t, room, "receiver", secret, socketscience.WithClock(clock))
	got := collectInts(t, receiver, "n")
	member := room.Member(bot, "sender")
	policy := gateway.DefaultReconnectPolicy()
	policy.Backoff.Initial, policy.Backoff.Max, policy.Backoff.Jitter = time.Minute, time.Minute, 0
	sender, err := socketscience.New(member, secret, socketscience.WithClock(clock), socketscience.WithReconnectPolicy(policy))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, sender.WaitConnected(ctx))

	// The post fails, and the network stays down for ten minutes.
	member.FailPosts(1, errors.New("connection reset"))
	member.FailDials(10, errors.New("network unreachable"))
	require.NoError(t, sender.Send(context.Background(), socketscience.Payload{"n": 1}))
	deadline := time.After(wait)
	for delivered := false; !delivered; {
		select {
		case n := <-got:
			assert.Equal(t, 1, n)
			delivered = true
		case <-deadline:
			t.Fatalf("not delivered; receiver dropped %v", receiver.Stats().Dropped)
		default:
			if clock.Pending() > 0 {
				clock.Advance(time.Minute)
			}
		}
	}
	assert.Empty(t, receiver.Stats().Dropped)
	closeNodes(t, sender, receiver)
}

// A payload that turns out, once the server's limits are known, to be
// one receivers cannot reassemble is dropped with a counted reason, and
// Flush says so instead of returning nil.
func TestAttackFlushReportsDrops(t *testing.T) {
	room := memchat.NewRoom(memchat.WithMaxMessageLen(400))
	member := room.Member(bot, "sender")
	member.FailDials(1, errors.New("network unreachable"))
	clock := fakeclock.New(time.Now()) // the sender redials when the test says
	sender, err := socketscience.New(member, socketscience.WithClock(clock))
	require.NoError(t, err)
	// Limits are unknown until connected: Send cannot tell yet.
	require.NoError(t, sender.Send(context.Background(), socketscience.Payload{"blob": strings.Repeat("b", 200<<10)}))
	require.Eventually(t, func() bool { return clock.Pending() == 1 }, wait, time.Millisecond, "the redial timer")
	clock.Advance(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	err = sender.Flush(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, socketscience.ErrDropped)
	assert.Equal(t, int64(1), sender.Stats().Dropped["message_too_long"])
	require.NoError(t, sender.Flush(ctx), "each drop is reported once")
	closeNodes(t, sender)
}

// The outbound queue is bounded by bytes as well as by count: large
// payloads queued while disconnected stop being accepted long before
// the count bound.
func TestAttackQueueBoundedByBytes(t *testing.T) {
	room := memchat.NewRoom()
	member := room.Member(bot, "sender")
	member.FailDials(1<<30, errors.New("network unreachable"))
	sender, err := socketscience.New(member, socketscience.WithNonBlockingSend())
	require.NoError(t, err)
	big := strings.Repeat("q", 500<<10)
	accepted := 0
	for range 100 {
		err := sender.Send(context.Background(), socketscience.Payload{"blob": big})
		if errors.Is(err, socketscience.ErrQueueFull) {
			break
		}
		require.NoError(t, err)
		accepted++
	}
	assert.Less(t, accepted, 100, "the queue filled up by bytes")
	assert.LessOrEqual(t, accepted*len(big), 16<<20+len(big))
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_ = sender.Close(ctx)
}
