package socketscience_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/actors"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/gateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var bot = chatgateway.Identity{UserID: 1, UserName: "bot"}

const wait = 5 * time.Second

func newNode(t *testing.T, d chatgateway.Dialer, opts ...socketscience.Option) *socketscience.Node {
	t.Helper()
	n, err := socketscience.New(d, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = n.Close(ctx)
	})
	return n
}

func connected(t *testing.T, d chatgateway.Dialer, opts ...socketscience.Option) *socketscience.Node {
	t.Helper()
	n := newNode(t, d, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, n.WaitConnected(ctx))
	return n
}

// collect returns a handler that sends what it gets on a channel.
func collect[T any](t *testing.T, n *socketscience.Node, typ string) <-chan T {
	t.Helper()
	ch := make(chan T, 100)
	_, err := socketscience.Handle(n, typ, func(ctx context.Context, v T) error {
		ch <- v
		return nil
	})
	require.NoError(t, err)
	return ch
}

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatal("nothing received")
		panic("unreachable")
	}
}

type Beverage struct {
	MessageID int64  `json:"message_id"`
	Type      string `json:"beverage_type"`
}

func TestSendReachesOtherNodesTyped(t *testing.T) {
	room := memchat.NewRoom()
	a := connected(t, room.Member(bot, "a"), socketscience.WithNodeID("node-a"))
	b := connected(t, room.Member(bot, "b"))
	c := connected(t, room.Member(bot, "c"))
	fromB, fromC := collect[Beverage](t, b, "beverage"), collect[Beverage](t, c, "beverage")
	own := collect[Beverage](t, a, "beverage")

	var msgs = make(chan socketscience.Message, 1)
	_, err := b.Register("beverage", func(ctx context.Context, m socketscience.Message) error {
		msgs <- m
		return nil
	})
	require.NoError(t, err)

	want := Beverage{MessageID: 44402065, Type: "coffee"}
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"beverage": want}))
	assert.Equal(t, want, receive(t, fromB))
	assert.Equal(t, want, receive(t, fromC))
	m := receive(t, msgs)
	assert.Equal(t, "beverage", m.Type)
	assert.Equal(t, messages.Sender{UserID: bot.UserID, UserName: bot.UserName, NodeID: "node-a"}, m.Sender)
	assert.NotZero(t, m.ChatMessageID)

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, a.Flush(ctx))
	assert.Equal(t, want, receive(t, own), "a node handles its own payloads by default")
	assert.Zero(t, a.Stats().OwnFrames)
}

func TestWithoutSelfDelivery(t *testing.T) {
	room := memchat.NewRoom()
	a := connected(t, room.Member(bot, "a"), socketscience.WithoutSelfDelivery())
	b := connected(t, room.Member(bot, "b"))
	own, other := collect[string](t, a, "note"), collect[string](t, b, "note")
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"note": "hi"}))
	assert.Equal(t, "hi", receive(t, other))
	require.Eventually(t, func() bool { return a.Stats().OwnFrames == 1 }, wait, time.Millisecond)
	assert.Empty(t, own, "WithoutSelfDelivery skips the node's own payloads")
}

// A frame as SmokeDetector posts it (no envelope) is handled, and its
// types are split: one callback per type.
func TestSmokeDetectorFrameIsHandled(t *testing.T) {
	room := memchat.NewRoom()
	n := connected(t, room.Member(bot, "go"))
	type ping struct {
		Location string  `json:"location"`
		Time     float64 `json:"time"`
	}
	pings := collect[ping](t, n, "ping")
	states := collect[string](t, n, "metasmoke_state")
	// From ../shared/testdata/smokey-vectors.json, made by Python msgpack.
	room.Say(bot, ".\n\u00021033gqRwaW5ngqhsb2NhdGlvbqFhpHRpbWUBr21ldGFzbW9rZV9zdGF0ZaRkb3du\u0003")
	assert.Equal(t, ping{Location: "a", Time: 1}, receive(t, pings))
	assert.Equal(t, "down", receive(t, states))
}

func TestHandlersRunInRegistrationOrderAndUnregister(t *testing.T) {
	room := memchat.NewRoom()
	a := connected(t, room.Member(bot, "a"))
	b := connected(t, room.Member(bot, "b"))
	calls := make(chan string, 10)
	for _, name := range []string{"first", "second"} {
		_, err := b.Register("t", func(ctx context.Context, m socketscience.Message) error {
			calls <- name
			return nil
		})
		require.NoError(t, err)
	}
	unregister, err := b.Register("t", func(ctx context.Context, m socketscience.Message) error {
		calls <- "third"
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"t": 1}))
	assert.Equal(t, []string{"first", "second", "third"}, []string{receive(t, calls), receive(t, calls), receive(t, calls)})

	unregister()
	unregister() // idempotent
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"t": 2}))
	assert.Equal(t, []string{"first", "second"}, []string{receive(t, calls), receive(t, calls)})
	require.Eventually(t, func() bool { return b.Stats().Delivered == 5 }, wait, time.Millisecond)
	assert.Empty(t, calls)
}

func TestHandleDecodeErrorIsCounted(t *testing.T) {
	room := memchat.NewRoom()
	a := connected(t, room.Member(bot, "a"))
	b := connected(t, room.Member(bot, "b"))
	_, err := socketscience.Handle(b, "n", func(ctx context.Context, v int) error { return nil })
	require.NoError(t, err)
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"n": "not a number"}))
	require.Eventually(t, func() bool { return b.Stats().HandlerErrors == 1 }, wait, time.Millisecond)
}

func TestSendErrors(t *testing.T) {
	room := memchat.NewRoom()
	n := connected(t, room.Member(bot, "a"))
	ctx := context.Background()
	for name, p := range map[string]socketscience.Payload{
		"empty":        {},
		"reserved key": {messages.EnvelopeKey: 1},
		"empty type":   {"": 1},
		"unencodable":  {"f": func() {}},
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, n.Send(ctx, p), socketscience.ErrInvalidPayload)
		})
	}
	assert.ErrorIs(t, n.Post(ctx, ".\n\u00020000gA==\u0003"), socketscience.ErrInvalidPayload)

	_, err := n.Register("", func(context.Context, socketscience.Message) error { return nil })
	assert.ErrorIs(t, err, messages.ErrEmptyType)
	_, err = n.Register("x", nil)
	assert.ErrorIs(t, err, socketscience.ErrNilHandler)
	_, err = socketscience.Handle[int](n, "x", nil)
	assert.ErrorIs(t, err, socketscience.ErrNilHandler)
}

func TestPayloadTooLargeForServer(t *testing.T) {
	room := memchat.NewRoom(memchat.WithMaxMessageLen(100))
	n := connected(t, room.Member(bot, "a"))
	err := n.Send(context.Background(), socketscience.Payload{"big": strings.Repeat("x", 200)})
	assert.NoError(t, err, "goes as fragments")
	err = n.Send(context.Background(), socketscience.Payload{"big": strings.Repeat("x", 30_000)})
	assert.ErrorIs(t, err, socketscience.ErrPayloadTooLarge, "would take more fragments than receivers accept")
	err = n.Send(context.Background(), socketscience.Payload{"big": strings.Repeat("x", 2<<20)})
	assert.ErrorIs(t, err, socketscience.ErrPayloadTooLarge, "over the frame limit")
}

func TestClosedNode(t *testing.T) {
	room := memchat.NewRoom()
	n := connected(t, room.Member(bot, "a"))
	require.NoError(t, n.Close(context.Background()))
	require.NoError(t, n.Close(context.Background()), "second Close returns the first's result")
	assert.ErrorIs(t, n.Send(context.Background(), socketscience.Payload{"t": 1}), socketscience.ErrClosed)
	assert.ErrorIs(t, n.Post(context.Background(), "hi"), socketscience.ErrClosed)
	_, err := n.Register("t", func(context.Context, socketscience.Message) error { return nil })
	assert.ErrorIs(t, err, socketscience.ErrClosed)
	for _, err := range []error{n.Flush(context.Background()), n.WaitConnected(context.Background()), n.Health().Err} {
		assert.ErrorIs(t, err, socketscience.ErrClosed)
		assert.NotErrorIs(t, err, socketscience.ErrStopped, "closed on purpose, not failed")
		assert.ErrorIs(t, err, gateway.ErrStopped, "the lower sentinel still matches")
		assert.Equal(t, "socketscience: node closed", err.Error())
	}
	assert.True(t, n.Health().Stopped)
}

// Payloads sent while the connection is down wait in the queue and are
// posted, in order, after the node reconnects; Close posts what is left.
func TestQueueSurvivesReconnectAndCloseDrains(t *testing.T) {
	room := memchat.NewRoom()
	fast := gateway.DefaultReconnectPolicy()
	fast.Backoff.Initial, fast.Backoff.Max = time.Millisecond, time.Millisecond
	member := room.Member(bot, "a")
	a := connected(t, member, socketscience.WithReconnectPolicy(fast))
	b := connected(t, room.Member(bot, "b"))
	got := collect[int](t, b, "i")

	member.FailDials(5, errors.New("network down"))
	member.Break(nil)
	require.Eventually(t, func() bool { return !a.Health().Connected }, wait, time.Millisecond)
	for i := range 50 {
		require.NoError(t, a.Send(context.Background(), socketscience.Payload{"i": i}))
	}
	for i := range 50 {
		require.Equal(t, i, receive(t, got))
	}
	require.Eventually(t, func() bool { return a.Stats().Reconnects == 1 }, wait, time.Millisecond)

	for i := range 10 {
		require.NoError(t, a.Send(context.Background(), socketscience.Payload{"i": 50 + i}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, a.Close(ctx))
	for i := range 10 {
		require.Equal(t, 50+i, receive(t, got))
	}
	assert.Empty(t, a.Stats().Dropped)
}

func TestQueueFull(t *testing.T) {
	room := memchat.NewRoom()
	member := room.Member(bot, "a")
	member.FailDials(1<<30, errors.New("network down"))
	n := newNode(t, member, socketscience.WithQueueSize(2), socketscience.WithNonBlockingSend())
	ctx := context.Background()
	require.NoError(t, n.Send(ctx, socketscience.Payload{"t": 1}))
	require.NoError(t, n.Send(ctx, socketscience.Payload{"t": 2}))
	assert.ErrorIs(t, n.Send(ctx, socketscience.Payload{"t": 3}), socketscience.ErrQueueFull)
	assert.Equal(t, 2, n.Health().Queued)

	down := room.Member(bot, "b")
	down.FailDials(1<<30, errors.New("network down"))
	blocking := newNode(t, down, socketscience.WithQueueSize(1))
	require.NoError(t, blocking.Send(ctx, socketscience.Payload{"t": 1}))
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, blocking.Send(short, socketscience.Payload{"t": 2}), context.DeadlineExceeded, "Send waits for room until ctx ends")

	// Neither can post: Close gives up at once and counts what it dropped.
	closed, cancelClose := context.WithCancel(ctx)
	cancelClose()
	assert.ErrorIs(t, n.Close(closed), context.Canceled)
	assert.ErrorIs(t, blocking.Close(closed), context.Canceled)
	assert.Equal(t, int64(2), n.Stats().Dropped["abandoned"])
}

// Close gives up on what cannot be posted when its ctx ends, counts it, and
// still leaves no goroutine behind.
func TestCloseAbandonsWhenDisconnected(t *testing.T) {
	room := memchat.NewRoom()
	member := room.Member(bot, "a")
	member.FailDials(1<<30, errors.New("network down"))
	n, err := socketscience.New(member)
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, n.Send(context.Background(), socketscience.Payload{"t": i}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = n.Close(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, map[socketscience.DropReason]int64{socketscience.DropAbandoned: 3}, n.Stats().Dropped)
}

// A handler blocked past Close's deadline gets its ctx cancelled; Close
// returns by then, and a second Close waits for the handler to return.
func TestCloseCancelsBlockedHandler(t *testing.T) {
	room := memchat.NewRoom()
	a := connected(t, room.Member(bot, "a"))
	b, err := socketscience.New(room.Member(bot, "b"))
	require.NoError(t, err)
	entered := make(chan struct{})
	returned := make(chan struct{})
	_, err = b.Register("t", func(ctx context.Context, m socketscience.Message) error {
		close(entered)
		<-ctx.Done()
		close(returned)
		return ctx.Err()
	})
	require.NoError(t, err)
	require.NoError(t, b.WaitConnected(context.Background()))
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"t": 1}))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = b.Close(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	if ce := (*socketscience.CloseError)(nil); errors.As(err, &ce) {
		assert.Equal(t, []string{"t"}, ce.Stuck, "the handler had not yet returned")
	}
	again, cancelAgain := context.WithTimeout(context.Background(), wait)
	defer cancelAgain()
	err = b.Close(again)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the first Close's result")
	assert.NotErrorAs(t, err, new(*socketscience.CloseError), "the node has stopped")
	select {
	case <-returned:
	default:
		t.Fatal("Close returned before the handler did")
	}
}

// Delivered counts payload callbacks only: the chat and state handlers'
// calls are not deliveries of a payload (issue 10, item 18).
func TestDeliveredCountsPayloadCallbacksOnly(t *testing.T) {
	room := memchat.NewRoom()
	a := connected(t, room.Member(bot, "a"))
	chats := make(chan string, 10)
	states := make(chan socketscience.StateChange, 10)
	b := connected(t, room.Member(bot, "b"),
		socketscience.WithChatHandler(func(_ context.Context, m messages.ChatMessage) { chats <- m.Text }),
		socketscience.WithStateHandler(func(_ context.Context, s socketscience.StateChange) { states <- s }))
	got := collect[int](t, b, "t")
	assert.True(t, receive(t, states).Connected)
	room.Say(chatgateway.Identity{UserID: 2, UserName: "person"}, "hello")
	assert.Equal(t, "hello", receive(t, chats))
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"t": 1}))
	assert.Equal(t, 1, receive(t, got))
	require.NoError(t, b.Close(context.Background()), "Close lets every handler finish")
	assert.Equal(t, int64(1), b.Stats().Delivered)
}

// An option with a value the node cannot work with fails New, naming the
// option, instead of a node that loses every payload (issue 10, item 9: an
// unset environment variable gave WithSecret an empty secret).
func TestInvalidOptionsFailNew(t *testing.T) {
	room := memchat.NewRoom()
	bad := []struct {
		name string
		opt  socketscience.Option
	}{
		{"WithSecret", socketscience.WithSecret([]byte{})},
		{"WithSecret", socketscience.WithSecret(nil)},
		{"WithQueueSize", socketscience.WithQueueSize(0)},
		{"WithQueueSize", socketscience.WithQueueSize(-1)},
		{"WithMaxPending", socketscience.WithMaxPending(0)},
		{"WithMaxPending", socketscience.WithMaxPending(-5)},
		{"WithMaxPendingBytes", socketscience.WithMaxPendingBytes(0)},
		{"WithMaxClockSkew", socketscience.WithMaxClockSkew(0)},
		{"WithMaxClockSkew", socketscience.WithMaxClockSkew(-time.Second)},
		{"WithClock", socketscience.WithClock(nil)},
		{"WithRand", socketscience.WithRand(nil)},
		{"WithChatHandler", socketscience.WithChatHandler(nil)},
		{"WithStateHandler", socketscience.WithStateHandler(nil)},
		{"WithNodeID", socketscience.WithNodeID("")},
		{"WithNodeID", socketscience.WithNodeID(strings.Repeat("n", 65))},
		{"WithNodeID", socketscience.WithNodeID("a b")},
		{"WithNodeID", socketscience.WithNodeID("a\u0002b")},
		{"WithNodeID", socketscience.WithNodeID("caf\u00e9")},
		{"WithDecodeLimits", socketscience.WithDecodeLimits(messages.Limits{MaxFrameLen: -1})},
		{"WithReassemblyLimits", socketscience.WithReassemblyLimits(messages.ReassemblyLimits{Timeout: -time.Second})},
	}
	for i, c := range bad {
		n, err := socketscience.New(room.Member(bot, "a"), c.opt)
		assert.ErrorIs(t, err, socketscience.ErrInvalidOption, "case %d", i)
		assert.ErrorContains(t, err, c.name, "case %d", i)
		assert.Nil(t, n, "case %d", i)
	}

	n := newNode(t, room.Member(bot, "a"), socketscience.WithNodeID("Node-1.a_b:c/d@e+"+strings.Repeat("n", 47)),
		socketscience.WithSecret([]byte("s")), socketscience.WithQueueSize(1), socketscience.WithMaxPending(1))
	assert.Len(t, n.ID(), 64)
}

// A Send that returns nil while Close runs is posted before Close returns
// nil; otherwise Send returns ErrClosed or Close an error (issue 10, item
// 13: such payloads were abandoned while Close returned nil).
func TestSendRacingCloseIsPostedOrRefused(t *testing.T) {
	for round := range 20 {
		room := memchat.NewRoom()
		n := connected(t, room.Member(bot, "a"), socketscience.WithoutCoalescing(), socketscience.WithQueueSize(2))
		const senders = 8
		var accepted sync.WaitGroup
		var ok, refused [senders]int
		started := make(chan struct{}, senders)
		for i := range senders {
			accepted.Add(1)
			go func() {
				defer accepted.Done()
				for j := 0; ; j++ {
					if j == 5 {
						started <- struct{}{}
					}
					err := n.Send(context.Background(), socketscience.Payload{"t": j})
					if errors.Is(err, socketscience.ErrClosed) {
						refused[i]++
						return
					}
					if !assert.NoError(t, err) {
						return
					}
					ok[i]++
				}
			}()
		}
		for range senders {
			<-started
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		closeErr := n.Close(ctx)
		cancel()
		accepted.Wait()
		require.NoError(t, closeErr, "round %d", round)
		total := 0
		for _, c := range ok {
			total += c
		}
		posted := 0
		for _, e := range room.Transcript() {
			if e.Via == "a" {
				posted++
			}
		}
		require.Equal(t, total, posted, "round %d: every Send that returned nil is posted (dropped: %v)", round, n.Stats().Dropped)
		assert.Empty(t, n.Stats().Dropped, "round %d", round)
	}
}

// Messages left in a handler's mailbox when Close's ctx ends are counted,
// as abandoned_inbound (issue 10, item 14: they vanished uncounted).
func TestCloseCountsAbandonedInbound(t *testing.T) {
	room := memchat.NewRoom()
	a := connected(t, room.Member(bot, "a"))
	b := connected(t, room.Member(bot, "b"))
	entered := make(chan struct{}, 10)
	_, err := b.Register("t", func(ctx context.Context, m socketscience.Message) error {
		entered <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	})
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, a.Send(context.Background(), socketscience.Payload{"t": i}))
	}
	<-entered
	require.Eventually(t, func() bool { return b.Stats().Frames == 10 }, wait, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, b.Close(ctx), context.DeadlineExceeded)
	require.Eventually(t, func() bool { return b.Stats().HandlerErrors == 1 }, wait, time.Millisecond)
	require.Eventually(t, func() bool { return b.Stats().Dropped["abandoned_inbound"] == 9 }, wait, time.Millisecond,
		"dropped: %v", b.Stats().Dropped)
	assert.Empty(t, entered, "no callback after the first")
}

// Close called from a callback returns, by its ctx's deadline at the latest,
// and the node's goroutines end once that callback returns (issue 10, item
// 12: it never returned, whatever the ctx, and leaked the node).
func TestCloseFromCallbackReturns(t *testing.T) {
	for _, c := range []struct {
		name  string
		state bool // call Close from the state handler, not a type handler
		ctx   func(cb context.Context) (context.Context, context.CancelFunc)
		// want is the error Close returns in the callback: nil, or a
		// *CloseError naming the caller's type and wrapping want.
		want error
	}{
		{"type handler, its ctx", false, func(cb context.Context) (context.Context, context.CancelFunc) { return cb, func() {} }, nil},
		{"type handler, derived ctx", false, func(cb context.Context) (context.Context, context.CancelFunc) { return context.WithCancel(cb) }, nil},
		{"type handler, Background", false, func(context.Context) (context.Context, context.CancelFunc) {
			return context.Background(), func() {}
		}, socketscience.ErrNotWaited},
		{"type handler, deadline", false, func(context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
		{"state handler, its ctx", true, func(cb context.Context) (context.Context, context.CancelFunc) { return cb, func() {} }, nil},
		{"state handler, Background", true, func(context.Context) (context.Context, context.CancelFunc) {
			return context.Background(), func() {}
		}, socketscience.ErrNotWaited},
		{"state handler, deadline", true, func(context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
	} {
		t.Run(c.name, func(t *testing.T) {
			room := memchat.NewRoom()
			closed := make(chan error, 1)
			var n *socketscience.Node
			made := make(chan struct{}) // n is set
			closeFrom := func(cb context.Context) {
				<-made
				ctx, cancel := c.ctx(cb)
				defer cancel()
				closed <- n.Close(ctx)
			}
			var opts []socketscience.Option
			if c.state {
				opts = append(opts, socketscience.WithStateHandler(func(ctx context.Context, s socketscience.StateChange) {
					if s.Connected {
						closeFrom(ctx)
					}
				}))
			}
			n, err := socketscience.New(room.Member(bot, "b"), opts...)
			require.NoError(t, err)
			close(made)
			if !c.state {
				_, err = n.Register("t", func(ctx context.Context, _ socketscience.Message) error {
					closeFrom(ctx)
					return nil
				})
				require.NoError(t, err)
				a := connected(t, room.Member(bot, "a"))
				require.NoError(t, n.WaitConnected(context.Background()))
				require.NoError(t, a.Send(context.Background(), socketscience.Payload{"t": 1}))
			}
			typ := "t"
			if c.state {
				typ = "(state)"
			}
			select {
			case err := <-closed:
				if c.want == nil {
					assert.NoError(t, err)
					break
				}
				var ce *socketscience.CloseError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, []string{typ}, ce.Stuck, "Close cannot tell the caller from another handler in a callback")
				assert.ErrorIs(t, err, c.want)
			case <-time.After(wait):
				t.Fatal("Close called from a callback did not return")
			}
			// Called again from outside, Close waits for what the first call
			// left running: the calling callback has returned by now.
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			err = n.Close(ctx)
			var ce *socketscience.CloseError
			assert.False(t, errors.As(err, &ce), "the node has stopped: %v", err)
			if c.want == context.DeadlineExceeded {
				assert.ErrorIs(t, err, c.want, "the first Close's ctx ended before the handlers stopped")
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

// A busy handler's mailbox is bounded by bytes (WithMaxPendingBytes) as well
// as by count.
func TestMaxPendingBytes(t *testing.T) {
	room := memchat.NewRoom()
	a := connected(t, room.Member(bot, "a"))
	b := connected(t, room.Member(bot, "b"), socketscience.WithMaxPendingBytes(2500))
	release := make(chan struct{})
	got := make(chan string, 10)
	_, err := socketscience.Handle(b, "t", func(ctx context.Context, s string) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		got <- s
		return nil
	})
	require.NoError(t, err)
	// Each is 1003 bytes of msgpack: two fit in 2500, the others do not.
	for i := range 5 {
		require.NoError(t, a.Send(context.Background(), socketscience.Payload{"t": strings.Repeat(string(rune('a'+i)), 1000)}))
	}
	require.Eventually(t, func() bool { return b.Stats().Dropped["handler_queue_full"] == 3 }, wait, time.Millisecond)
	close(release)
	assert.Equal(t, strings.Repeat("a", 1000), receive(t, got))
	assert.Equal(t, strings.Repeat("b", 1000), receive(t, got))
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"t": "after"}))
	assert.Equal(t, "after", receive(t, got), "room again once the handler caught up")
}

// Close(context.Background()) from outside any callback (main's deferred
// Close) waits for a handler that is running a callback when it is called:
// only a Close called from a callback must not wait for callbacks that may
// be its caller.
func TestCloseFromOutsideWaitsForBusyHandler(t *testing.T) {
	room := memchat.NewRoom()
	a := connected(t, room.Member(bot, "a"))
	b := connected(t, room.Member(bot, "b"))
	entered, release := make(chan struct{}), make(chan struct{})
	var handled atomic.Int64
	_, err := b.Register("t", func(ctx context.Context, _ socketscience.Message) error {
		if handled.Load() == 0 {
			close(entered)
			<-release
		}
		handled.Add(1)
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"t": 1}))
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"t": 2}))
	<-entered
	require.Eventually(t, func() bool { return b.Stats().Frames == 2 }, wait, time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- b.Close(context.Background()) }()
	require.Eventually(t, func() bool { return errors.Is(b.Flush(context.Background()), socketscience.ErrClosed) },
		wait, time.Millisecond, "the gateway stops first")
	require.Never(t, func() bool { return len(closed) > 0 }, 100*time.Millisecond, time.Millisecond,
		"Close returned while a handler was busy")
	close(release)
	require.NoError(t, <-closed)
	assert.Equal(t, int64(2), handled.Load(), "the handler finished what it had been given")
}

func TestPermanentFailureStops(t *testing.T) {
	room := memchat.NewRoom()
	member := room.Member(bot, "a")
	bad := errors.New("bad password")
	member.FailDials(1, chatgateway.Permanent(bad))
	n := newNode(t, member)
	err := n.WaitConnected(context.Background())
	assert.ErrorIs(t, err, socketscience.ErrStopped)
	assert.ErrorIs(t, err, bad)
	h := n.Health()
	assert.True(t, h.Stopped)
	assert.ErrorIs(t, h.Err, bad)
	err = n.Send(context.Background(), socketscience.Payload{"t": 1})
	assert.ErrorIs(t, err, socketscience.ErrStopped)
	assert.ErrorIs(t, err, bad)
	assert.ErrorIs(t, err, gateway.ErrStopped, "the lower sentinel still matches")
	assert.NotErrorIs(t, err, socketscience.ErrClosed, "failed, not closed")
	assert.Equal(t, "socketscience: connection failed for good: dial: bad password", err.Error())
	assert.ErrorIs(t, n.Post(context.Background(), "hi"), socketscience.ErrStopped)
	require.NoError(t, n.Close(context.Background()))
	assert.ErrorIs(t, n.WaitConnected(context.Background()), socketscience.ErrClosed, "Close has stopped it since")
}

// The root sentinels are values of their own, each with its own wording,
// not the lower packages' (whose wording says nothing to a user of Node).
func TestSentinelsAreDistinct(t *testing.T) {
	sentinels := []error{socketscience.ErrClosed, socketscience.ErrStopped, gateway.ErrStopped, actors.ErrStopped, chatgateway.ErrConnClosed}
	for i, a := range sentinels {
		for j, b := range sentinels {
			if i != j {
				assert.NotErrorIs(t, a, b)
				assert.NotEqual(t, a.Error(), b.Error())
			}
		}
	}
	assert.Equal(t, "socketscience: node closed", socketscience.ErrClosed.Error())
	assert.Equal(t, "socketscience: connection failed for good", socketscience.ErrStopped.Error())
}

// Malformed frames from the room are dropped and counted by reason.
func TestBadFramesAreCounted(t *testing.T) {
	room := memchat.NewRoom()
	n := connected(t, room.Member(bot, "a"))
	room.Say(bot, ".\n\u00021234!!!not base64\u0003")
	room.Say(bot, ".\n\u00021234kQE=\u0003") // msgpack [1], not a map
	require.Eventually(t, func() bool {
		d := n.Stats().Dropped
		return d["bad_base64"] == 1 && d["not_map"] == 1
	}, wait, time.Millisecond)
}

// With a logger, the node logs structured lines, and protoactor's own
// Info noise stays out.
func TestLogsGoToTheGivenLogger(t *testing.T) {
	var mu sync.Mutex
	var buf strings.Builder
	w := zerolog.SyncWriter(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}))
	room := memchat.NewRoom()
	n := connected(t, room.Member(bot, "a"), socketscience.WithLogger(zerolog.New(w)), socketscience.WithNodeID("n1"))
	require.NoError(t, n.Close(context.Background()))
	mu.Lock()
	defer mu.Unlock()
	out := buf.String()
	assert.Contains(t, out, `"node":"n1"`)
	assert.Contains(t, out, `"message":"connected"`)
	assert.NotContains(t, out, "actor system started")
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// A Send waiting for queue room returns once the connection fails for good,
// rather than waiting for its ctx.
func TestPermanentFailureReleasesWaitingSend(t *testing.T) {
	room := memchat.NewRoom()
	member := room.Member(bot, "a")
	member.FailDials(1, errors.New("network down"))
	clock := fakeclock.New(time.Now())
	n := newNode(t, member, socketscience.WithQueueSize(1), socketscience.WithClock(clock))
	require.Eventually(t, func() bool { return n.Health().Err != nil }, wait, time.Millisecond)
	require.NoError(t, n.Send(context.Background(), socketscience.Payload{"t": 1}))
	sent := make(chan error)
	go func() { sent <- n.Send(context.Background(), socketscience.Payload{"t": 2}) }()

	bad := errors.New("account suspended")
	member.FailDials(1, chatgateway.Permanent(bad))
	require.Eventually(t, func() bool { return clock.Pending() == 1 }, wait, time.Millisecond, "one redial timer")
	clock.Advance(time.Minute)
	err := receive(t, sent)
	assert.ErrorIs(t, err, socketscience.ErrStopped)
	assert.ErrorIs(t, err, bad)
}

// State changes reach the state handler, in order, off the gateway.
func TestStateHandler(t *testing.T) {
	room := memchat.NewRoom(memchat.WithName("lobby"))
	member := room.Member(bot, "a")
	changes := make(chan socketscience.StateChange, 10)
	clock := fakeclock.New(time.Now())
	newNode(t, member, socketscience.WithClock(clock), socketscience.WithRand(func() float64 { return 0 }),
		socketscience.WithStateHandler(func(ctx context.Context, s socketscience.StateChange) { changes <- s }))
	up := receive(t, changes)
	assert.Equal(t, socketscience.StateChange{RoomName: "lobby", Connected: true, UserID: bot.UserID, UserName: bot.UserName}, up)

	member.FailDials(1, chatgateway.Permanent(errors.New("banned")))
	member.Break(nil)
	down := receive(t, changes)
	assert.False(t, down.Connected)
	assert.ErrorIs(t, down.Err, memchat.ErrBroken)
	assert.Equal(t, gateway.DefaultReconnectPolicy().Backoff.Delay(0, 0), down.RetryIn)
	require.Eventually(t, func() bool { return clock.Pending() == 1 }, wait, time.Millisecond)
	clock.Advance(down.RetryIn)
	stopped := receive(t, changes)
	assert.True(t, stopped.Stopped)
	assert.ErrorContains(t, stopped.Err, "banned")
}
