package test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/gateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const wait = 10 * time.Second

func fastReconnect() socketscience.Option {
	p := gateway.DefaultReconnectPolicy()
	p.Backoff.Initial, p.Backoff.Max = time.Millisecond, time.Millisecond
	return socketscience.WithReconnectPolicy(p)
}

func closeNodes(t *testing.T, nodes ...*socketscience.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, n := range nodes {
		assert.NoError(t, n.Close(ctx))
	}
}

// Payloads queued while disconnected, with distinct types, go out merged:
// 50 sends cost one chat post, and each handler gets its payload once.
func TestCoalescing(t *testing.T) {
	room := memchat.NewRoom()
	member := room.Member(bot, "sender")
	member.FailDials(1, errors.New("network down"))
	clock := fakeclock.New(time.Now()) // the sender redials when the test says
	sender, err := socketscience.New(member, socketscience.WithClock(clock))
	require.NoError(t, err)
	receiver := connect(t, room, "receiver")
	var got sync.Map
	var calls atomic.Int64
	for i := range 50 {
		typ := fmt.Sprintf("type%02d", i)
		_, err := socketscience.Handle(receiver, typ, func(ctx context.Context, v int) error {
			got.Store(typ, v)
			calls.Add(1)
			return nil
		})
		require.NoError(t, err)
		require.NoError(t, sender.Send(context.Background(), socketscience.Payload{typ: i}))
	}
	require.Eventually(t, func() bool { return clock.Pending() == 1 }, wait, time.Millisecond, "the redial timer")
	clock.Advance(time.Minute)
	require.Eventually(t, func() bool { return calls.Load() == 50 }, wait, time.Millisecond)
	closeNodes(t, sender, receiver)
	for i := range 50 {
		v, _ := got.Load(fmt.Sprintf("type%02d", i))
		assert.Equal(t, i, v)
	}
	frames := 0
	for _, e := range room.Transcript() {
		if strings.HasPrefix(e.Text, messages.FramePrefix) {
			frames++
		}
	}
	assert.LessOrEqual(t, frames, 2, "50 distinct types in at most 2 posts")
	assert.Equal(t, int64(50), calls.Load())
}

// A post that reached the room although the poster was told it failed is
// posted again, unchanged; the receiver handles the payload once.
func TestRepostAfterUnknownOutcomeIsHandledOnce(t *testing.T) {
	room := memchat.NewRoom()
	lying := &lyingDialer{Dialer: room.Member(bot, "sender")}
	lying.lies.Store(1)
	sender, err := socketscience.New(lying, fastReconnect())
	require.NoError(t, err)
	receiver := connect(t, room, "receiver")
	var calls atomic.Int64
	_, err = socketscience.Handle(receiver, "t", func(ctx context.Context, v int) error {
		calls.Add(1)
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, sender.Send(context.Background(), socketscience.Payload{"t": 1}))
	require.Eventually(t, func() bool { return receiver.Stats().Duplicates == 1 }, wait, time.Millisecond)
	closeNodes(t, sender, receiver)
	assert.Equal(t, int64(1), calls.Load())
	assert.Equal(t, int64(1), sender.Stats().PostFailures)
}

// lyingDialer's connections post, then report failure, as many times as
// lies says.
type lyingDialer struct {
	chatgateway.Dialer
	lies atomic.Int64
}

func (d *lyingDialer) Dial(ctx context.Context) (chatgateway.Conn, error) {
	c, err := d.Dialer.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return lyingConn{c, &d.lies}, nil
}

type lyingConn struct {
	chatgateway.Conn
	lies *atomic.Int64
}

func (c lyingConn) Post(ctx context.Context, text string) (int64, error) {
	id, err := c.Conn.Post(ctx, text)
	if err == nil && c.lies.Add(-1) >= 0 {
		return 0, errors.New("timeout reading the answer")
	}
	return id, err
}

// With posting paced at one per second, 50 sends of distinct types issued
// together cost at most 2 posts, and each handler gets its payload once.
func TestCoalescingUnderRateLimit(t *testing.T) {
	room := memchat.NewRoom(memchat.WithPostRate(time.Second, 1))
	clock := fakeclock.New(time.Now())
	sender, err := socketscience.New(room.Member(bot, "sender"), socketscience.WithClock(clock))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, sender.WaitConnected(ctx))
	receiver := connect(t, room, "receiver")
	var calls atomic.Int64
	for i := range 50 {
		_, err := socketscience.Handle(receiver, fmt.Sprintf("type%02d", i), func(ctx context.Context, v int) error {
			calls.Add(1)
			return nil
		})
		require.NoError(t, err)
	}
	for i := range 50 {
		require.NoError(t, sender.Send(ctx, socketscience.Payload{fmt.Sprintf("type%02d", i): i}))
	}
	require.Eventually(t, func() bool { return clock.Pending() == 1 }, wait, time.Millisecond, "posting waits for the rate")
	clock.Advance(time.Second)
	require.Eventually(t, func() bool { return calls.Load() == 50 }, wait, time.Millisecond)
	closeNodes(t, sender, receiver)
	assert.Equal(t, int64(50), calls.Load())
	assert.LessOrEqual(t, sender.Stats().Posted, int64(2))
}
