package actors

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/socketscience/socketscience/internal/goroutines"
	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/internal/protocol"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
)

// waitFor bounds every wait for an asynchronous effect; it is a deadline, not
// a sleep.
const waitFor = 5 * time.Second

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// fastPolicy restarts a failed handler after 10µs, 20µs, … at most 1ms, and
// never gives up.
func fastPolicy() supervisor.Policy {
	return supervisor.Policy{Backoff: supervisor.Backoff{
		Initial: 10 * time.Microsecond, Multiplier: 2, Max: time.Millisecond,
	}}
}

// fixture is a Router on a silent ActorSystem whose mailboxes run on a
// goroutines.Group, supervised by a Strategy.
type fixture struct {
	tb       testing.TB
	system   *actor.ActorSystem
	group    *goroutines.Group
	strategy *Strategy
	counters *metrics.Counters
	router   *Router
	events   chan Failure // the strategy's decisions, unless a test hooks them itself
	stopped  bool
	// deadLetters counts messages sent to stopped actors. The router must
	// not make any: each one makes protoactor start a goroutine that lives
	// for a throttle interval.
	deadLetters atomic.Int64
	deadLog     chan string
	chatID      atomic.Int64
}

func newFixture(tb testing.TB, cfg Config) *fixture {
	return newFixtureWith(tb, fastPolicy(), cfg)
}

// newFixtureWith fills in cfg's System, Dispatcher, Counters and (unless set)
// Strategy, and starts the Router. When the test ends, it stops the Router
// (unless the test did) and waits for every mailbox goroutine.
func newFixtureWith(tb testing.TB, p supervisor.Policy, cfg Config, opts ...StrategyOption) *fixture {
	tb.Helper()
	f := &fixture{
		tb: tb,
		system: actor.NewActorSystem(
			actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }),
			// A dead letter starts a protoactor goroutine that lives for one
			// throttle interval; keep it short so that goleak never sees it.
			actor.WithDeadLetterThrottleInterval(time.Millisecond),
		),
		group:    new(goroutines.Group),
		counters: new(metrics.Counters),
		events:   make(chan Failure, 1000),
	}
	hook := WithFailureHook(func(e Failure) {
		select {
		case f.events <- e:
		default:
		}
	})
	f.strategy = NewStrategy(p, append([]StrategyOption{hook}, opts...)...)
	f.deadLog = make(chan string, 100)
	f.system.EventStream.Subscribe(func(evt any) {
		if dl, ok := evt.(*actor.DeadLetterEvent); ok {
			f.deadLetters.Add(1)
			select {
			case f.deadLog <- fmt.Sprintf("%T to %s", dl.Message, dl.PID.GetId()):
			default:
			}
		}
	})
	cfg.System = f.system
	cfg.Dispatcher = f.group.Dispatcher()
	cfg.Counters = f.counters
	if cfg.Strategy == nil {
		cfg.Strategy = f.strategy
	}
	f.router = NewRouter(cfg)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if !f.stopped {
			assert.NoError(tb, f.stop(ctx), "Router.Stop")
		}
		f.strategy.Stop()
		assert.NoError(tb, f.group.Wait(ctx), "mailbox goroutines still running after Stop")
		if n := f.deadLetters.Load(); n > 0 {
			var log []string
			for len(f.deadLog) > 0 {
				log = append(log, <-f.deadLog)
			}
			assert.Failf(tb, "dead letters", "%d messages sent to stopped actors: %v", n, log)
		}
	})
	return f
}

func (f *fixture) stop(ctx context.Context) error {
	f.stopped = true
	return f.router.Stop(ctx)
}

// send routes fr as if the gateway had read it in chat message 1 of user 1.
// send delivers fr as the next chat message: each has its own id, as in a
// real room, or the router would drop it as a duplicate.
func (f *fixture) send(fr messages.Frame) {
	f.sendFrom(fr, messages.ChatMessage{ID: f.chatID.Add(1), UserID: 1, UserName: "someone"})
}

func (f *fixture) sendFrom(fr messages.Frame, chat messages.ChatMessage) {
	f.system.Root.Send(f.router.PID(), &protocol.Inbound{Frame: fr, Chat: protocol.RefTo(chat)})
}

func (f *fixture) sendChat(chat messages.ChatMessage) {
	f.system.Root.Send(f.router.PID(), &protocol.ChatInbound{Chat: chat})
}

func (f *fixture) register(typ string, fn messages.HandlerFunc) func() {
	f.tb.Helper()
	unregister, err := f.router.Register(typ, fn)
	require.NoError(f.tb, err)
	require.NotNil(f.tb, unregister)
	return unregister
}

// handlerFor returns typ's handler actor.
func (f *fixture) handlerFor(typ string) *handler {
	f.tb.Helper()
	h := (*f.router.types.Load())[typ]
	require.NotNil(f.tb, h, "no handler for %q", typ)
	return h
}

// assertAllRetired checks that every handler actor has retired. A handler
// closes its stopped channel, which Stop waits for, just before it retires,
// so this may lag Stop's return by a moment.
func (f *fixture) assertAllRetired() {
	f.tb.Helper()
	eventually(f.tb, func() bool { return f.live() == 0 }, "handler actors still live after Stop")
}

func (f *fixture) live() int {
	f.router.mu.Lock()
	defer f.router.mu.Unlock()
	return len(f.router.live)
}

// frame encodes p (and env) as the wire does and splits it back, as the
// gateway would.
func frame(tb testing.TB, p messages.Payload, env *messages.Envelope) messages.Frame {
	tb.Helper()
	s, err := messages.EncodeFrame(p, env)
	require.NoError(tb, err)
	fr, err := messages.Split(s)
	require.NoError(tb, err)
	return fr
}

// str decodes a message whose data is a string.
func str(m messages.Message) string {
	var s string
	if err := m.Decode(&s); err != nil {
		return "decode error: " + err.Error()
	}
	return s
}

// num decodes a message whose data is an int.
func num(m messages.Message) int {
	var n int
	if err := m.Decode(&n); err != nil {
		return -1
	}
	return n
}

// recorder returns a callback that sends name:data (data decoded as a
// string) to ch.
func recorder(name string, ch chan<- string) messages.HandlerFunc {
	return func(_ context.Context, m messages.Message) error {
		ch <- name + ":" + str(m)
		return nil
	}
}

// recv waits for one value from ch, failing the test after waitFor.
func recv[T any](tb testing.TB, ch <-chan T) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		var zero T
		require.FailNow(tb, "timed out waiting for an asynchronous effect")
		return zero
	}
}

func recvN[T any](tb testing.TB, ch <-chan T, n int) []T {
	tb.Helper()
	out := make([]T, 0, n)
	for range n {
		out = append(out, recv(tb, ch))
	}
	return out
}

// assertNothing checks that nothing has arrived on ch. It is only meaningful
// where the effect could not be in flight, which the callers establish first.
func assertNothing[T any](tb testing.TB, ch <-chan T, msg string) {
	tb.Helper()
	select {
	case v := <-ch:
		assert.Fail(tb, msg, "got %v", v)
	default:
	}
}

// closed waits for ch to be closed.
func closed(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(waitFor):
		require.FailNow(tb, "timed out waiting for "+what)
	}
}

func eventually(tb testing.TB, cond func() bool, msg string) {
	tb.Helper()
	require.Eventually(tb, cond, waitFor, time.Millisecond, msg)
}

// eventuallyEqual waits until get returns want, and otherwise reports what
// it last returned.
func eventuallyEqual[T comparable](tb testing.TB, want T, get func() T, what string) {
	tb.Helper()
	if !assert.Eventually(tb, func() bool { return get() == want }, waitFor, time.Millisecond, what) {
		require.Equal(tb, want, get(), what)
		tb.FailNow()
	}
}

type beverage struct {
	MessageID    int64  `msgpack:"message_id"`
	BeverageType string `msgpack:"beverage_type"`
}

// 1. Several callbacks per type, in registration order; the Message fields.

func TestCallbacksRunInRegistrationOrderForEachMessage(t *testing.T) {
	f := newFixture(t, Config{})
	calls := make(chan string, 100)
	for i := range 3 {
		f.register("beverage", func(_ context.Context, m messages.Message) error {
			var b beverage
			if err := m.Decode(&b); err != nil {
				calls <- err.Error()
				return err
			}
			calls <- fmt.Sprintf("cb%d:%d:%s", i, b.MessageID, b.BeverageType)
			return nil
		})
	}
	kinds := []string{"coffee", "tea", "cocoa", "water"}
	var want []string
	for n, k := range kinds {
		f.send(frame(t, messages.Payload{"beverage": map[string]any{"message_id": n, "beverage_type": k}}, nil))
		for i := range 3 {
			want = append(want, fmt.Sprintf("cb%d:%d:%s", i, n, k))
		}
	}
	assert.Equal(t, want, recvN(t, calls, len(want)))
	eventuallyEqual(t, int64(len(want)), f.counters.Delivered.Load, "Delivered")
	assert.Zero(t, f.counters.HandlerErrors.Load())
	assert.Zero(t, f.counters.Unhandled.Load())
}

func TestTwoTypesInOnePayloadAndMessageFields(t *testing.T) {
	f := newFixture(t, Config{Self: "node-a"})
	got := make(chan messages.Message, 10)
	record := func(_ context.Context, m messages.Message) error { got <- m; return nil }
	f.register("beverage", record)
	f.register("ping", record)

	f.sendFrom(frame(t, messages.Payload{
		"beverage": map[string]any{"message_id": 42, "beverage_type": "coffee"},
		"ping":     "hi",
		"unknown":  true,
	}, &messages.Envelope{Node: "node-b", Seq: 7, Time: 1}),
		messages.ChatMessage{ID: 1001, UserID: 7, UserName: "alice", Text: "ignored"})

	ms := recvN(t, got, 2)
	slices.SortFunc(ms, func(a, b messages.Message) int { return cmp.Compare(a.Type, b.Type) })
	wantSender := messages.Sender{UserID: 7, UserName: "alice", NodeID: "node-b"}

	bev := ms[0]
	assert.Equal(t, "beverage", bev.Type)
	assert.Equal(t, wantSender, bev.Sender)
	assert.Equal(t, int64(1001), bev.ChatMessageID)
	var b beverage
	require.NoError(t, bev.Decode(&b))
	assert.Equal(t, beverage{MessageID: 42, BeverageType: "coffee"}, b)
	// The data is that type's value only, not the whole payload.
	var asMap map[string]any
	require.NoError(t, bev.Decode(&asMap))
	assert.Len(t, asMap, 2)

	ping := ms[1]
	assert.Equal(t, "ping", ping.Type)
	assert.Equal(t, wantSender, ping.Sender)
	assert.Equal(t, int64(1001), ping.ChatMessageID)
	assert.Equal(t, "hi", str(ping))

	// A frame without an envelope (as SmokeDetector sends) has no node id.
	f.sendFrom(frame(t, messages.Payload{"ping": "from smokey"}, nil),
		messages.ChatMessage{ID: 1002, UserID: 120914, UserName: "SmokeDetector"})
	m := recv(t, got)
	assert.Equal(t, messages.Sender{UserID: 120914, UserName: "SmokeDetector"}, m.Sender)
	assert.Equal(t, int64(1002), m.ChatMessageID)
	assert.Equal(t, "from smokey", str(m))

	eventuallyEqual(t, 1, f.counters.Unhandled.Load, "Unhandled (the unknown type)")
	assertNothing(t, got, "a callback ran for a type it was not registered for")
}

// 2. Unregistering.

func TestUnregister(t *testing.T) {
	f := newFixture(t, Config{})
	tCalls := make(chan string, 100)
	oCalls := make(chan string, 100)
	unA := f.register("t", recorder("A", tCalls))
	unB := f.register("t", recorder("B", tCalls))
	f.register("other", recorder("O", oCalls))
	h := f.handlerFor("t")

	// Removing one callback leaves the others, and calling it again is a no-op.
	unA()
	unA()
	f.send(frame(t, messages.Payload{"t": "1", "other": "1"}, nil))
	f.send(frame(t, messages.Payload{"t": "2", "other": "2"}, nil))
	assert.Equal(t, []string{"B:1", "B:2"}, recvN(t, tCalls, 2))
	assert.Equal(t, []string{"O:1", "O:2"}, recvN(t, oCalls, 2))
	assert.ElementsMatch(t, []string{"t", "other"}, f.router.Types())

	// Removing the last callback stops the type's actor.
	unB()
	assert.Equal(t, []string{"other"}, f.router.Types())
	closed(t, h.stopped, "the handler actor to stop after its last callback was removed")
	eventuallyEqual(t, 1, f.live, "live handlers")
	f.send(frame(t, messages.Payload{"t": "3", "other": "3"}, nil))
	assert.Equal(t, "O:3", recv(t, oCalls))
	eventuallyEqual(t, 1, f.counters.Unhandled.Load, "Unhandled")
	unB() // idempotent after the actor stopped, too

	// Registering again spawns a new actor; the old unregister functions do
	// not touch it.
	unC := f.register("t", recorder("C", tCalls))
	h2 := f.handlerFor("t")
	assert.NotSame(t, h, h2)
	assert.False(t, h.pid.Equal(h2.pid))
	unA()
	unB()
	f.send(frame(t, messages.Payload{"t": "4"}, nil))
	f.send(frame(t, messages.Payload{"t": "5"}, nil))
	assert.Equal(t, []string{"C:4", "C:5"}, recvN(t, tCalls, 2))
	assert.ElementsMatch(t, []string{"t", "other"}, f.router.Types())
	assertNothing(t, tCalls, "a removed callback ran")

	unC()
	assert.Equal(t, []string{"other"}, f.router.Types())
	closed(t, h2.stopped, "the second handler actor to stop")
	assert.Equal(t, int64(1), f.counters.Unhandled.Load())
}

// 3. Register's errors.

func TestRegisterErrors(t *testing.T) {
	f := newFixture(t, Config{})
	fn := func(context.Context, messages.Message) error { return nil }

	un, err := f.router.Register("t", nil)
	assert.ErrorIs(t, err, ErrNilHandler)
	assert.Nil(t, un)
	un, err = f.router.Register("", fn)
	assert.ErrorIs(t, err, messages.ErrEmptyType)
	assert.Nil(t, un)
	un, err = f.router.Register(messages.EnvelopeKey, fn)
	assert.ErrorIs(t, err, messages.ErrReservedKey)
	assert.Nil(t, un)
	assert.Empty(t, f.router.Types(), "a failed Register must not spawn a handler")
	assert.Equal(t, 0, f.live())

	unT := f.register("t", fn)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, f.stop(ctx))
	un, err = f.router.Register("u", fn)
	assert.ErrorIs(t, err, ErrStopped)
	assert.Nil(t, un)
	un, err = f.router.Register("t", nil) // argument errors still come first
	assert.ErrorIs(t, err, ErrNilHandler)
	assert.Nil(t, un)
	unT() // unregistering after Stop is harmless
	f.assertAllRetired()
	require.NoError(t, f.router.Stop(ctx), "a second Stop")
}

// 4. Errors and panics.

func TestErrorsAndPanics(t *testing.T) {
	f := newFixture(t, Config{})
	tCalls := make(chan string, 100)
	oCalls := make(chan string, 100)
	f.register("t", func(_ context.Context, m messages.Message) error {
		s := str(m)
		tCalls <- "1:" + s
		if s == "err" {
			return errors.New("bad data")
		}
		return nil
	})
	f.register("t", func(_ context.Context, m messages.Message) error {
		s := str(m)
		tCalls <- "2:" + s
		if s == "boom" {
			panic("boom")
		}
		return nil
	})
	f.register("t", recorder("3", tCalls))
	f.register("other", recorder("O", oCalls))
	pid := f.handlerFor("t").pid

	msgs := []string{"a", "err", "boom", "b", "c"}
	for _, s := range msgs {
		f.send(frame(t, messages.Payload{"t": s, "other": s}, nil))
	}
	var want, wantOther []string
	for _, s := range msgs {
		want = append(want, "1:"+s, "2:"+s, "3:"+s)
		wantOther = append(wantOther, "O:"+s)
	}
	// The error and the panic do not stop the later callbacks for the same
	// message, and the messages after the panic are handled, in order, by
	// the same callbacks after the restart.
	assert.Equal(t, want, recvN(t, tCalls, len(want)))
	assert.Equal(t, wantOther, recvN(t, oCalls, len(wantOther)))

	e := recv(t, f.events)
	assert.True(t, e.Child.Equal(pid), "event for %v, want the handler %v", e.Child, pid)
	assert.False(t, e.GaveUp)
	assert.Equal(t, 1, e.Attempt)
	var pe *PanicError
	require.ErrorAs(t, e.Reason.(error), &pe)
	assert.Equal(t, "t", pe.Type)
	assert.Equal(t, "boom", pe.Value)
	assert.Contains(t, string(pe.Stack), "TestErrorsAndPanics")
	assert.Equal(t, `actors: handler for "t" panicked: boom`, pe.Error())

	assert.Equal(t, int64(1), f.counters.HandlerErrors.Load())
	assert.Equal(t, int64(1), f.counters.HandlerPanics.Load())
	assert.Equal(t, int64(1), f.counters.Restarts.Load())
	// 15 calls for t less one error and one panic, 5 for other.
	eventuallyEqual(t, 18, f.counters.Delivered.Load, "Delivered")

	// A second panic restarts it again; the type keeps working.
	f.send(frame(t, messages.Payload{"t": "boom"}, nil))
	f.send(frame(t, messages.Payload{"t": "d"}, nil))
	assert.Equal(t, []string{"1:boom", "2:boom", "3:boom", "1:d", "2:d", "3:d"}, recvN(t, tCalls, 6))
	e = recv(t, f.events)
	assert.True(t, e.Child.Equal(pid))
	assert.Equal(t, int64(2), f.counters.Restarts.Load())
	assert.Equal(t, int64(2), f.counters.HandlerPanics.Load())
	assert.True(t, f.handlerFor("t").pid.Equal(pid), "a restart keeps the actor's PID")
	assert.Empty(t, f.counters.Dropped())
}

func TestSeveralPanicsInOneMessageRestartOnce(t *testing.T) {
	f := newFixture(t, Config{})
	calls := make(chan string, 100)
	f.register("t", func(_ context.Context, m messages.Message) error { panic("first " + str(m)) })
	f.register("t", func(_ context.Context, m messages.Message) error { panic("second " + str(m)) })
	f.register("t", recorder("3", calls))

	f.send(frame(t, messages.Payload{"t": "x"}, nil))
	f.send(frame(t, messages.Payload{"t": "y"}, nil))
	assert.Equal(t, []string{"3:x", "3:y"}, recvN(t, calls, 2))
	for _, s := range []string{"x", "y"} {
		e := recv(t, f.events)
		var pe *PanicError
		require.ErrorAs(t, e.Reason.(error), &pe)
		assert.Equal(t, "first "+s, pe.Value, "the supervisor sees the first panic")
	}
	eventuallyEqual(t, 2, f.counters.Restarts.Load, "Restarts")
	assert.Equal(t, int64(4), f.counters.HandlerPanics.Load())
	assertNothing(t, f.events, "one restart per message")
}

// The restart waits for the strategy's backoff: until then the type's later
// messages wait in its mailbox, while other types go on.
func TestRestartWaitsForBackoff(t *testing.T) {
	clk := fakeclock.New(epoch)
	p := supervisor.Policy{Backoff: supervisor.Backoff{Initial: time.Second, Multiplier: 2, Max: time.Minute}}
	f := newFixtureWith(t, p, Config{}, WithStrategyClock(clk), WithStrategyRand(func() float64 { return 0 }))
	tCalls := make(chan string, 100)
	oCalls := make(chan string, 100)
	f.register("t", func(_ context.Context, m messages.Message) error {
		s := str(m)
		tCalls <- s
		if s == "boom" {
			panic(s)
		}
		return nil
	})
	f.register("other", recorder("O", oCalls))

	f.send(frame(t, messages.Payload{"t": "boom"}, nil))
	f.send(frame(t, messages.Payload{"t": "after1"}, nil))
	f.send(frame(t, messages.Payload{"t": "after2"}, nil))
	assert.Equal(t, "boom", recv(t, tCalls))
	e := recv(t, f.events)
	assert.Equal(t, time.Second, e.Delay)
	assert.Equal(t, 1, clk.Pending())

	for i := range 100 {
		f.send(frame(t, messages.Payload{"other": fmt.Sprint(i)}, nil))
	}
	for i := range 100 {
		assert.Equal(t, fmt.Sprint("O:", i), recv(t, oCalls))
	}
	clk.Advance(time.Second - time.Nanosecond)
	assert.Zero(t, f.counters.Restarts.Load(), "restarted before the backoff elapsed")
	assertNothing(t, tCalls, "a message was handled before the restart")

	clk.Advance(time.Nanosecond)
	assert.Equal(t, []string{"after1", "after2"}, recvN(t, tCalls, 2))
	assert.Equal(t, int64(1), f.counters.Restarts.Load())
	assert.Equal(t, 0, clk.Pending())
}

// 5. A blocked type does not delay another.

func TestBlockedTypeDoesNotDelayOthers(t *testing.T) {
	const n = 1000
	f := newFixture(t, Config{})
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	var aDone atomic.Int64
	f.register("a", func(ctx context.Context, _ messages.Message) error {
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-ctx.Done(): // only if the test fails
		}
		aDone.Add(1)
		return nil
	})
	var bNext atomic.Int64
	var bOutOfOrder atomic.Int64
	bDone := make(chan struct{})
	f.register("b", func(_ context.Context, m messages.Message) error {
		if int64(num(m)) != bNext.Load() {
			bOutOfOrder.Add(1)
		}
		if bNext.Add(1) == n {
			close(bDone)
		}
		return nil
	})

	f.send(frame(t, messages.Payload{"a": -1}, nil))
	recv(t, started)
	for i := range n {
		f.send(frame(t, messages.Payload{"a": i, "b": i}, nil))
	}
	closed(t, bDone, "b to handle every message while a is blocked")
	assert.Zero(t, bOutOfOrder.Load())
	assert.Zero(t, aDone.Load(), "a was not blocked")
	assert.Equal(t, int64(n+1), f.handlerFor("a").pending.Load())

	close(release)
	eventuallyEqual(t, n+1, aDone.Load, "messages a handled")
	assert.Empty(t, f.counters.Dropped())
}

// 6. MaxPending.

func TestMaxPendingDropsTheExcess(t *testing.T) {
	f := newFixture(t, Config{MaxPending: 5})
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	handled := make(chan int, 100)
	f.register("t", func(ctx context.Context, m messages.Message) error {
		n := num(m)
		if n == 0 {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		handled <- n
		return nil
	})
	uCalls := make(chan string, 100)
	f.register("u", recorder("U", uCalls))

	for i := range 10 {
		f.send(frame(t, messages.Payload{"t": i}, nil))
	}
	recv(t, started)
	eventuallyEqual(t, 5, func() int64 { return f.counters.Dropped()["handler_queue_full"] }, "dropped handler_queue_full")
	// Another type's mailbox has its own limit, of which t's full queue
	// takes nothing.
	for i := range 5 {
		f.send(frame(t, messages.Payload{"u": fmt.Sprint(i)}, nil))
	}
	for i := range 5 {
		assert.Equal(t, fmt.Sprint("U:", i), recv(t, uCalls))
	}

	close(release)
	assert.Equal(t, []int{0, 1, 2, 3, 4}, recvN(t, handled, 5))
	// Once the queue has drained there is room again.
	f.send(frame(t, messages.Payload{"t": 10}, nil))
	assert.Equal(t, 10, recv(t, handled))
	assertNothing(t, handled, "a dropped message was handled")
	assert.Equal(t, map[string]int64{"handler_queue_full": 5}, f.counters.Dropped())
	eventuallyEqual(t, 0, f.handlerFor("t").pending.Load, "pending")
}

// A slow chat handler's mailbox is bounded by bytes, not only by count:
// 200 strangers' messages of 256 KiB must not queue 50 MiB (issue 10, item
// 17). DefaultMaxPendingBytes admits 64 of them, the one being handled
// included.
func TestChatMailboxIsBoundedByBytes(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	var handled atomic.Int64
	f := newFixture(t, Config{Chat: func(ctx context.Context, _ messages.ChatMessage) {
		select {
		case started <- struct{}{}:
			select {
			case <-release:
			case <-ctx.Done():
			}
		default:
		}
		handled.Add(1)
	}})
	const size, flood = 256 << 10, 200
	admitted := int64(DefaultMaxPendingBytes / size)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// Every text is an allocation of its own, as strangers' messages are.
	f.sendChat(messages.ChatMessage{ID: 1, Text: strings.Repeat("x", size)})
	recv(t, started)
	for i := 1; i < flood; i++ {
		f.sendChat(messages.ChatMessage{ID: int64(i + 1), Text: strings.Repeat(string(rune('a'+i%26)), size)})
	}
	eventuallyEqual(t, flood-admitted, func() int64 { return f.counters.Dropped()["handler_queue_full"] }, "dropped handler_queue_full")
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	assert.Less(t, growth, int64(DefaultMaxPendingBytes+8<<20), "heap growth while the chat handler is stuck")

	close(release)
	eventuallyEqual(t, admitted, handled.Load, "chat messages handled")
	assert.Equal(t, map[string]int64{"handler_queue_full": flood - admitted}, f.counters.Dropped())
}

// Abort before Stop (Close's ctx ended while the gateway was still
// stopping): no callback starts again, the running one's ctx is cancelled,
// Stop stops every actor without a dead letter and counts what was left.
func TestAbortBeforeStop(t *testing.T) {
	f := newFixture(t, Config{})
	started := make(chan struct{}, 10)
	f.register("t", func(ctx context.Context, _ messages.Message) error {
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	})
	for i := range 3 {
		f.send(frame(t, messages.Payload{"t": i}, nil))
	}
	recv(t, started)
	eventuallyEqual(t, 3, f.handlerFor("t").pending.Load, "pending")
	e := f.router.Exempt(context.Background())
	f.router.Abort()
	f.router.Abort() // idempotent
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	assert.ErrorIs(t, f.stop(ctx), context.Canceled, "Stop reports the abort")
	require.NoError(t, f.router.WaitStopped(ctx, e))
	assert.Empty(t, f.router.Stuck(e))
	assert.Empty(t, started, "no callback after Abort")
	assert.Equal(t, map[string]int64{"abandoned_inbound": 2}, f.counters.Dropped())
	f.assertAllRetired()
}

// InCallback tells a callback's goroutine from any other, as Close needs.
func TestInCallback(t *testing.T) {
	f := newFixture(t, Config{})
	inside := make(chan bool, 1)
	f.register("t", func(context.Context, messages.Message) error {
		inside <- InCallback()
		return nil
	})
	f.send(frame(t, messages.Payload{"t": 1}, nil))
	assert.True(t, recv(t, inside))
	assert.False(t, InCallback())
}

// Failing and panicking callbacks release their message's place in the queue.
func TestPendingIsReleasedAfterErrorsAndPanics(t *testing.T) {
	f := newFixture(t, Config{MaxPending: 1})
	calls := make(chan string, 100)
	f.register("t", func(_ context.Context, m messages.Message) error {
		s := str(m)
		calls <- s
		switch s {
		case "err":
			return errors.New(s)
		case "panic":
			panic(s)
		}
		return nil
	})
	h := f.handlerFor("t")
	for _, s := range []string{"ok", "err", "panic", "ok", "panic", "panic", "err", "ok"} {
		f.send(frame(t, messages.Payload{"t": s}, nil))
		assert.Equal(t, s, recv(t, calls))
		eventuallyEqual(t, 0, h.pending.Load, "pending after "+s)
	}
	assert.Empty(t, f.counters.Dropped())
}

// 7. Frames this node sent.

func TestOwnFramesAreSkipped(t *testing.T) {
	f := newFixture(t, Config{Self: "me"})
	got := make(chan messages.Message, 10)
	record := func(_ context.Context, m messages.Message) error { got <- m; return nil }
	f.register("t", record)
	f.register("u", record)

	f.send(frame(t, messages.Payload{"t": "own", "u": "own"}, &messages.Envelope{Node: "me", Seq: 1}))
	f.send(frame(t, messages.Payload{"t": "peer"}, &messages.Envelope{Node: "peer", Seq: 1}))
	f.send(frame(t, messages.Payload{"t": "smokey"}, nil))

	m := recv(t, got)
	assert.Equal(t, "peer", str(m))
	assert.Equal(t, "peer", m.Sender.NodeID)
	m = recv(t, got)
	assert.Equal(t, "smokey", str(m))
	assert.Empty(t, m.Sender.NodeID)
	assert.Equal(t, int64(1), f.counters.OwnFrames.Load(), "one own frame, counted once")
	assertNothing(t, got, "an own frame was delivered")
	assert.Zero(t, f.counters.Unhandled.Load())
}

func TestDeliverToSelf(t *testing.T) {
	f := newFixture(t, Config{Self: "me", DeliverToSelf: true})
	got := make(chan messages.Message, 10)
	f.register("t", func(_ context.Context, m messages.Message) error { got <- m; return nil })

	f.send(frame(t, messages.Payload{"t": "own"}, &messages.Envelope{Node: "me"}))
	f.send(frame(t, messages.Payload{"t": "smokey"}, nil))
	m := recv(t, got)
	assert.Equal(t, "own", str(m))
	assert.Equal(t, "me", m.Sender.NodeID)
	assert.Equal(t, "smokey", str(recv(t, got)))
	assert.Zero(t, f.counters.OwnFrames.Load())
}

// 8. Chat messages.

func TestChatHasItsOwnActor(t *testing.T) {
	chat := make(chan messages.ChatMessage, 10)
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	f := newFixture(t, Config{Chat: func(ctx context.Context, m messages.ChatMessage) {
		chat <- m
		switch m.Text {
		case "block":
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
		case "panic":
			panic(m.Text)
		}
	}})
	got := make(chan string, 10)
	f.register("t", recorder("T", got))
	assert.Equal(t, []string{"t"}, f.router.Types(), "the chat handler is not a type")

	f.sendChat(messages.ChatMessage{ID: 1, UserID: 5, UserName: "bob", Text: "block"})
	recv(t, started)
	f.sendChat(messages.ChatMessage{ID: 2, UserID: 5, UserName: "bob", Text: "hello"})
	// A blocked chat handler does not delay the types.
	f.send(frame(t, messages.Payload{"t": "x"}, nil))
	assert.Equal(t, "T:x", recv(t, got))
	m := recv(t, chat)
	assert.Equal(t, messages.ChatMessage{ID: 1, UserID: 5, UserName: "bob", Text: "block"}, m)
	assertNothing(t, chat, "the chat handler ran a second message while blocked")

	close(release)
	m = recv(t, chat)
	assert.Equal(t, messages.ChatMessage{ID: 2, UserID: 5, UserName: "bob", Text: "hello"}, m)

	// A panicking chat callback restarts the chat actor, which goes on.
	f.sendChat(messages.ChatMessage{ID: 3, Text: "panic"})
	f.sendChat(messages.ChatMessage{ID: 4, Text: "after"})
	assert.Equal(t, []int64{3, 4}, []int64{recv(t, chat).ID, recv(t, chat).ID})
	assert.Equal(t, int64(1), f.counters.Restarts.Load())
	assert.Equal(t, int64(1), f.counters.HandlerPanics.Load())
}

func TestChatWithoutChatHandlerIsIgnored(t *testing.T) {
	f := newFixture(t, Config{})
	got := make(chan string, 10)
	f.register("t", recorder("T", got))
	f.sendChat(messages.ChatMessage{ID: 1, Text: "hello"})
	f.send(frame(t, messages.Payload{"t": "x"}, nil))
	assert.Equal(t, "T:x", recv(t, got))
	assert.Empty(t, f.counters.Dropped())
	assert.Zero(t, f.counters.Unhandled.Load())
}

// 9. Stop.

func TestStopDrainsQueuedMessages(t *testing.T) {
	const n = 500
	var chatN, tN, uN atomic.Int64
	f := newFixture(t, Config{Chat: func(context.Context, messages.ChatMessage) { chatN.Add(1) }})
	var ctxErrs atomic.Int64
	count := func(c *atomic.Int64) messages.HandlerFunc {
		return func(ctx context.Context, _ messages.Message) error {
			if ctx.Err() != nil {
				ctxErrs.Add(1)
			}
			c.Add(1)
			return nil
		}
	}
	f.register("t", count(&tN))
	f.register("u", count(&uN))
	for i := range n {
		f.send(frame(t, messages.Payload{"t": i, "u": i}, nil))
		f.sendChat(messages.ChatMessage{ID: int64(i)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, f.stop(ctx))
	// Everything sent before Stop was handled by the time it returned.
	assert.Equal(t, int64(n), tN.Load())
	assert.Equal(t, int64(n), uN.Load())
	assert.Equal(t, int64(n), chatN.Load())
	assert.Zero(t, ctxErrs.Load(), "a handler's context was cancelled during a drain in time")
	f.assertAllRetired()
	require.NoError(t, f.group.Wait(ctx))
}

func TestStopWaitsForABusyHandler(t *testing.T) {
	f := newFixture(t, Config{})
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	var handled atomic.Int64
	f.register("t", func(ctx context.Context, m messages.Message) error {
		if num(m) == 0 {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		handled.Add(1)
		return nil
	})
	for i := range 10 {
		f.send(frame(t, messages.Payload{"t": i}, nil))
	}
	recv(t, started)

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	f.stopped = true
	stopErr := make(chan error, 1)
	go func() { stopErr <- f.router.Stop(ctx) }()
	eventually(t, func() bool {
		_, err := f.router.Register("u", func(context.Context, messages.Message) error { return nil })
		return errors.Is(err, ErrStopped)
	}, "Register still works after Stop began")
	select {
	case err := <-stopErr:
		require.FailNow(t, "Stop returned while a handler was still busy", "err: %v", err)
	default:
	}
	close(release)
	require.NoError(t, recv(t, stopErr))
	assert.Equal(t, int64(10), handled.Load())
	assert.Zero(t, f.counters.HandlerErrors.Load())
}

func TestStopPastItsDeadlineCancelsHandlers(t *testing.T) {
	f := newFixture(t, Config{})
	started := make(chan struct{}, 10)
	ctxErr := make(chan error, 10)
	f.register("t", func(ctx context.Context, _ messages.Message) error {
		started <- struct{}{}
		<-ctx.Done()
		ctxErr <- ctx.Err()
		return ctx.Err()
	})
	h := f.handlerFor("t")
	f.send(frame(t, messages.Payload{"t": 1}, nil))
	f.send(frame(t, messages.Payload{"t": 2}, nil))
	recv(t, started)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := f.stop(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, recv(t, ctxErr), context.Canceled, "the handler's context was not cancelled")
	closed(t, h.stopped, "the handler actor to stop")
	f.assertAllRetired()

	wctx, wcancel := context.WithTimeout(context.Background(), waitFor)
	defer wcancel()
	require.NoError(t, f.group.Wait(wctx))
	assert.Equal(t, 0, f.group.Running())
	_, err = f.router.Register("t", func(context.Context, messages.Message) error { return nil })
	assert.ErrorIs(t, err, ErrStopped)
}

// Stop past its deadline stops the handlers without making dead letters,
// even when they return at once when cancelled and so race towards the
// PoisonPill that the drain already queued.
func TestStopPastItsDeadlineWithManyHandlers(t *testing.T) {
	const types = 50
	f := newFixture(t, Config{})
	started := make(chan struct{}, types)
	for i := range types {
		f.register(fmt.Sprint("t", i), func(ctx context.Context, m messages.Message) error {
			if num(m) == 0 {
				started <- struct{}{}
			}
			<-ctx.Done()
			return nil
		})
	}
	for n := range 2 {
		p := messages.Payload{}
		for i := range types {
			p[fmt.Sprint("t", i)] = n
		}
		f.send(frame(t, p, nil))
	}
	recvN(t, started, types)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, f.stop(ctx), context.DeadlineExceeded)
	f.assertAllRetired()
}

// 10. Forget.

func TestForgetAfterTheStrategyGivesUp(t *testing.T) {
	var router atomic.Pointer[Router]
	type forgotten struct {
		typ string
		ok  bool
	}
	forgot := make(chan forgotten, 10)
	p := fastPolicy()
	p.MaxFailures = 1
	p.Window = time.Minute
	f := newFixtureWith(t, p, Config{}, WithFailureHook(func(e Failure) {
		if r := router.Load(); r != nil && e.GaveUp {
			typ, ok := r.Forget(e.Child)
			forgot <- forgotten{typ, ok}
		}
	}))
	router.Store(f.router)

	calls := make(chan string, 10)
	f.register("t", func(_ context.Context, m messages.Message) error {
		calls <- str(m)
		panic("always")
	})
	oCalls := make(chan string, 10)
	f.register("other", recorder("O", oCalls))
	h := f.handlerFor("t")

	f.send(frame(t, messages.Payload{"t": "1"}, nil))
	f.send(frame(t, messages.Payload{"t": "2"}, nil))
	assert.Equal(t, []string{"1", "2"}, recvN(t, calls, 2))
	assert.Equal(t, forgotten{"t", true}, recv(t, forgot))
	closed(t, h.stopped, "the handler actor to stop when the strategy gives up")
	assert.Equal(t, []string{"other"}, f.router.Types())
	eventuallyEqual(t, 1, f.live, "live handlers")

	f.send(frame(t, messages.Payload{"t": "3", "other": "3"}, nil))
	assert.Equal(t, "O:3", recv(t, oCalls))
	eventuallyEqual(t, 1, f.counters.Unhandled.Load, "Unhandled")
	assert.Equal(t, int64(2), f.counters.HandlerPanics.Load())
	assert.Equal(t, int64(1), f.counters.Restarts.Load())
	assertNothing(t, calls, "the forgotten handler ran")

	typ, ok := f.router.Forget(h.pid)
	assert.False(t, ok, "forgot twice")
	assert.Empty(t, typ)
	_, ok = f.router.Forget(f.router.PID())
	assert.False(t, ok, "forgot the router")

	// The type can be registered again.
	f.register("t", recorder("T", oCalls))
	f.send(frame(t, messages.Payload{"t": "4"}, nil))
	assert.Equal(t, "T:4", recv(t, oCalls))
}

// Registering and unregistering while frames flow: for the race detector, and
// to check that Stop still drains and stops every actor.
func TestConcurrentRegistration(t *testing.T) {
	f := newFixture(t, Config{})
	types := []string{"t0", "t1", "t2", "t3"}
	stopSending := make(chan struct{})
	var sender sync.WaitGroup
	sender.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stopSending:
				return
			default:
			}
			f.send(frame(t, messages.Payload{types[i%4]: i, types[(i+1)%4]: i}, nil))
		}
	})
	var calls atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 100 {
				un, err := f.router.Register(types[g%4], func(context.Context, messages.Message) error {
					calls.Add(1)
					return nil
				})
				if !assert.NoError(t, err) {
					return
				}
				un()
			}
		})
	}
	wg.Wait()
	close(stopSending)
	sender.Wait()
	assert.Empty(t, f.router.Types())
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, f.stop(ctx))
	f.assertAllRetired()
	assert.Empty(t, f.counters.Dropped())
}

// Removing a type's last callback while frames of that type flow: the
// router may be routing one with the type map it loaded before the removal,
// and that message must not reach the handler after it stopped.
func TestUnregisterUnderTraffic(t *testing.T) {
	f := newFixture(t, Config{})
	in := &protocol.Inbound{Frame: frame(t, messages.Payload{"t": 1}, nil)}
	stopSending := make(chan struct{})
	var sender sync.WaitGroup
	for range 2 {
		sender.Go(func() {
			for {
				select {
				case <-stopSending:
					return
				default:
				}
				f.system.Root.Send(f.router.PID(), in)
			}
		})
	}
	for range 300 {
		un := f.register("t", func(context.Context, messages.Message) error { return nil })
		un()
	}
	close(stopSending)
	sender.Wait()
	assert.Empty(t, f.router.Types())
}

// BenchmarkRoute measures one Inbound through the router to one callback.
func BenchmarkRoute(b *testing.B) {
	f := newFixture(b, Config{MaxPending: b.N + 1})
	target := int64(b.N)
	var n atomic.Int64
	done := make(chan struct{})
	f.register("ping", func(context.Context, messages.Message) error {
		if n.Add(1) == target {
			close(done)
		}
		return nil
	})
	data, err := msgpack.Marshal(map[string]any{"message_id": 1, "beverage_type": "coffee"})
	require.NoError(b, err)
	ins := make([]protocol.Inbound, b.N)
	for i := range ins {
		ins[i] = protocol.Inbound{
			Frame: messages.Frame{
				Types:    []messages.RawType{{Type: "ping", Data: data}},
				Envelope: &messages.Envelope{Node: "peer", Seq: uint64(i + 1)},
			},
			Chat: protocol.ChatRef{ID: int64(i + 1), UserID: 2, UserName: "peer"},
		}
	}
	pid := f.router.PID()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range ins {
		f.system.Root.Send(pid, &ins[i])
	}
	closed(b, done, "the callback to see every message")
	b.StopTimer()
	assert.Empty(b, f.counters.Dropped())
}
