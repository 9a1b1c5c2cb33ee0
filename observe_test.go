package socketscience_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/messages"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// events records HandlerEvents from any goroutine.
type events struct {
	mu  sync.Mutex
	got []socketscience.HandlerEvent
}

func (e *events) observe(ev socketscience.HandlerEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
}

func (e *events) list() []socketscience.HandlerEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.got)
}

// The observer sees each payload callback's outcome, duration and the
// frame's send time, with the node and room; Message.Sent carries the
// envelope's time, and is zero for a frame without an envelope.
func TestHandlerObserver(t *testing.T) {
	room := memchat.NewRoom(memchat.WithName("observed"))
	var ev events
	n := connected(t, room.Member(bot, "a"), socketscience.WithNodeID("obs"), socketscience.WithHandlerObserver(ev.observe),
		socketscience.WithChatHandler(func(context.Context, messages.ChatMessage) {}))
	sent := make(chan time.Time, 10)
	_, err := n.Register("ok", func(_ context.Context, m socketscience.Message) error { sent <- m.Sent; return nil })
	require.NoError(t, err)
	_, err = n.Register("fails", func(context.Context, socketscience.Message) error { return errors.New("no") })
	require.NoError(t, err)
	_, err = n.Register("panics", func(context.Context, socketscience.Message) error { panic("boom") })
	require.NoError(t, err)

	before := time.Now().Add(-time.Second) // the envelope's time is to the millisecond
	require.NoError(t, n.Send(context.Background(), socketscience.Payload{"ok": 1, "fails": 2, "panics": 3}))
	got := receive(t, sent)
	assert.False(t, got.Before(before.Truncate(time.Millisecond)), "Sent is the envelope's time")
	assert.False(t, got.After(time.Now()))
	room.Say(bot, "a chat line, not observed")
	require.Eventually(t, func() bool { return len(ev.list()) == 3 }, wait, time.Millisecond)
	outcomes := map[string]socketscience.HandlerOutcome{}
	for _, e := range ev.list() {
		outcomes[e.Type] = e.Outcome
		assert.Equal(t, "obs", e.Node)
		assert.Equal(t, "observed", e.Room)
		assert.Equal(t, got, e.Sent)
		assert.False(t, e.Started.Before(e.Sent))
		assert.GreaterOrEqual(t, e.Duration, time.Duration(0))
	}
	assert.Equal(t, map[string]socketscience.HandlerOutcome{"ok": socketscience.HandlerOK, "fails": socketscience.HandlerError,
		"panics": socketscience.HandlerPanic}, outcomes)

	// SmokeDetector's frames have no envelope: Sent is zero.
	room.Say(bot, ".\n\u00021033gqRwaW5ngqhsb2NhdGlvbqFhpHRpbWUBr21ldGFzbW9rZV9zdGF0ZaRkb3du\u0003")
	_, err = n.Register("ping", func(_ context.Context, m socketscience.Message) error { sent <- m.Sent; return nil })
	require.NoError(t, err)
	room.Say(bot, ".\n\u00021033gqRwaW5ngqhsb2NhdGlvbqFhpHRpbWUBr21ldGFzbW9rZV9zdGF0ZaRkb3du\u0003")
	assert.True(t, receive(t, sent).IsZero())
}

// Health names the room and the queue's bytes; Runtime.Nodes lists the
// nodes not yet closed.
func TestHealthRoomAndRuntimeNodes(t *testing.T) {
	rt, err := socketscience.NewRuntime()
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond) // a's post is abandoned
		defer cancel()
		_ = rt.Close(ctx)
	})
	room := memchat.NewRoom(memchat.WithName("lobby"))
	member := room.Member(bot, "a")
	member.FailDials(1000, errors.New("down"))
	a, err := rt.NewNode(member)
	require.NoError(t, err)
	assert.Empty(t, a.Health().Room, "not connected yet")
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"t": "some data"}))
	h := a.Health()
	assert.Equal(t, 1, h.Queued)
	assert.Positive(t, h.QueuedBytes)
	b, err := rt.NewNode(room.Member(bot, "b"))
	require.NoError(t, err)
	require.NoError(t, b.WaitConnected(context.Background()))
	assert.Equal(t, "lobby", b.Health().Room)
	assert.ElementsMatch(t, []*socketscience.Node{a, b}, rt.Nodes())
	assert.False(t, b.Health().Closed)
	require.NoError(t, b.Close(context.Background()))
	assert.True(t, b.Health().Closed)
	assert.Equal(t, []*socketscience.Node{a}, rt.Nodes())
	assert.Equal(t, "lobby", b.Health().Room, "the last connection's room, after Close too")
}
