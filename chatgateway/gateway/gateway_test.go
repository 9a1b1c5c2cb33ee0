package gateway_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/gateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/internal/protocol"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
)

var (
	smokey = chatgateway.Identity{UserID: 120914, UserName: "SmokeDetector"}
	alice  = chatgateway.Identity{UserID: 1, UserName: "alice"}
)

// memberName is the gateway member's connection name (memchat Entry.Via).
const memberName = "gateway"

// waitLimit bounds every blocking step so that a bug fails the test instead
// of hanging it.
const waitLimit = 10 * time.Second

var errBoom = errors.New("boom")

// delay is the reconnect policy's un-jittered delay for attempt n, which is
// what the gateway schedules with Rand returning 0.
func delay(n int) time.Duration {
	return gateway.DefaultReconnectPolicy().Backoff.Delay(n, 0)
}

// ---------------------------------------------------------------------------
// Collector: stands in for the router.

type collector struct {
	pid *actor.PID

	mu      sync.Mutex
	msgs    []any // *protocol.Inbound and *protocol.ChatInbound, in arrival order
	changed chan struct{}
}

func (c *collector) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *protocol.Inbound, *protocol.ChatInbound:
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

func (c *collector) snapshot() ([]any, chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]any(nil), c.msgs...), c.changed
}

// waitFor blocks until cond holds for what the collector has received, and
// returns that.
func (c *collector) waitFor(t *testing.T, what string, cond func([]any) bool) []any {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		msgs, changed := c.snapshot()
		if cond(msgs) {
			return msgs
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("collector: timed out waiting for %s; have %d messages", what, len(msgs))
		}
	}
}

// chatFrom returns, in order, the texts of the ChatInbound messages posted
// by user.
func chatFrom(msgs []any, user int64) []string {
	var out []string
	for _, m := range msgs {
		if ci, ok := m.(*protocol.ChatInbound); ok && ci.Chat.UserID == user {
			out = append(out, ci.Chat.Text)
		}
	}
	return out
}

// hasChat reports whether msgs hold a ChatInbound with text.
func hasChat(text string) func([]any) bool {
	return func(msgs []any) bool {
		for _, m := range msgs {
			if ci, ok := m.(*protocol.ChatInbound); ok && ci.Chat.Text == text {
				return true
			}
		}
		return false
	}
}

// ---------------------------------------------------------------------------
// Clock: a fakeclock that also reports each timer scheduled.

type recClock struct {
	*fakeclock.Clock
	scheduled chan time.Duration
}

func (c *recClock) AfterFunc(d time.Duration, f func()) supervisor.Timer {
	t := c.Clock.AfterFunc(d, f)
	c.scheduled <- d
	return t
}

// ---------------------------------------------------------------------------
// Harness.

type harness struct {
	t        *testing.T
	sys      *actor.ActorSystem
	room     *memchat.Room
	member   *memchat.Member
	clock    *recClock
	col      *collector
	counters *metrics.Counters
	states   chan protocol.StateEvent
	attempts atomic.Int64
	// wrap, if set before start, wraps every Conn the member dials.
	wrap func(chatgateway.Conn) chatgateway.Conn
	gw   *gateway.Gateway
}

func newHarness(t *testing.T, roomOpts ...memchat.RoomOption) *harness {
	t.Helper()
	h := &harness{
		t: t,
		sys: actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.DiscardHandler)
		})),
		room: memchat.NewRoom(roomOpts...),
		clock: &recClock{
			Clock:     fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
			scheduled: make(chan time.Duration, 1000),
		},
		col:      &collector{changed: make(chan struct{})},
		counters: new(metrics.Counters),
		states:   make(chan protocol.StateEvent, 1000),
	}
	h.member = h.room.Member(smokey, memberName)
	h.col.pid = h.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return h.col }))
	t.Cleanup(func() {
		if h.gw != nil {
			h.gw.Stop()
		}
		require.NoError(t, h.sys.Root.StopFuture(h.col.pid).Wait())
	})
	return h
}

// memberDialer dials the member, counting every attempt (memchat's Dials
// counts only the ones that succeed) and applying h.wrap.
func (h *harness) memberDialer() chatgateway.Dialer {
	return chatgateway.DialerFunc(func(ctx context.Context) (chatgateway.Conn, error) {
		h.attempts.Add(1)
		c, err := h.member.Dial(ctx)
		if err != nil {
			return nil, err
		}
		if h.wrap != nil {
			return h.wrap(c), nil
		}
		return c, nil
	})
}

func (h *harness) config() gateway.Config {
	return gateway.Config{
		System:   h.sys,
		Dialer:   h.memberDialer(),
		Router:   h.col.pid,
		Clock:    h.clock,
		Rand:     func() float64 { return 0 },
		Counters: h.counters,
		OnState:  func(s protocol.StateEvent) { h.states <- s },
		// Frames from alice, another account, are part of most tests.
		TrustedUsers: []int64{smokey.UserID, alice.UserID},
	}
}

// start creates the gateway from h.config(), modified by mod if not nil.
func (h *harness) start(mod func(*gateway.Config)) *gateway.Gateway {
	cfg := h.config()
	if mod != nil {
		mod(&cfg)
	}
	h.gw = gateway.New(cfg)
	return h.gw
}

func (h *harness) waitConnected() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	require.NoError(h.t, h.gw.WaitConnected(ctx))
}

func (h *harness) drain() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	require.NoError(h.t, h.gw.Drain(ctx))
}

// drainDropped drains, expecting the drops reported.
func (h *harness) drainDropped(want map[string]int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	err := h.gw.Drain(ctx)
	var dropped *gateway.DroppedError
	require.ErrorAs(h.t, err, &dropped)
	assert.ErrorIs(h.t, err, gateway.ErrDropped)
	assert.Equal(h.t, want, dropped.Reasons)
	h.drain() // reported once
}

func (h *harness) enqueue(texts ...string) {
	h.t.Helper()
	for _, s := range texts {
		require.NoError(h.t, h.gw.Enqueue(context.Background(), protocol.Outbound{Text: s}, false))
	}
}

// nextTimer waits for the gateway to schedule a reconnect and returns its
// delay, checking that it is then the only timer pending.
func (h *harness) nextTimer() time.Duration {
	h.t.Helper()
	select {
	case d := <-h.clock.scheduled:
		require.Equal(h.t, []time.Duration{d}, h.clock.Timers(), "exactly one reconnect timer pending")
		return d
	case <-time.After(waitLimit):
		h.t.Fatal("no reconnect timer was scheduled")
		return 0
	}
}

// nextState waits for the next OnState event.
func (h *harness) nextState() protocol.StateEvent {
	h.t.Helper()
	select {
	case s := <-h.states:
		return s
	case <-time.After(waitLimit):
		h.t.Fatal("no OnState event")
		return nil
	}
}

func (h *harness) nextDown() *protocol.ConnectionDown {
	h.t.Helper()
	s := h.nextState()
	d, ok := s.(*protocol.ConnectionDown)
	require.Truef(h.t, ok, "want *protocol.ConnectionDown, got %T", s)
	return d
}

func (h *harness) nextUp() *protocol.ConnectionUp {
	h.t.Helper()
	s := h.nextState()
	u, ok := s.(*protocol.ConnectionUp)
	require.Truef(h.t, ok, "want *protocol.ConnectionUp, got %T", s)
	return u
}

// posted returns the texts the gateway's member has posted, in room order.
func (h *harness) posted() []string {
	var out []string
	for _, e := range h.room.Transcript() {
		if e.Via == memberName {
			out = append(out, e.Text)
		}
	}
	return out
}

func texts(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// rawFrame wraps body (base64 text, valid or not) in a frame's framing.
func rawFrame(body string) string {
	return messages.FramePrefix + "1234" + body + "\x03"
}

// b64Frame makes a frame around raw msgpack bytes.
func b64Frame(raw ...byte) string {
	return rawFrame(base64.StdEncoding.EncodeToString(raw))
}

// waitBlockedIn waits until some goroutine is blocked in a select inside
// fn (a function name as a stack trace prints it), so that a test knows that
// a call it started in a goroutine has got that far.
func waitBlockedIn(t *testing.T, fn string) {
	t.Helper()
	require.Eventually(t, func() bool {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			header, _, _ := strings.Cut(g, "\n")
			if strings.Contains(header, "[select") && strings.Contains(g, fn) {
				return true
			}
		}
		return false
	}, waitLimit, time.Millisecond, "no goroutine blocked in %s", fn)
}

func isStopped(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, gateway.ErrStopped)
}

// ---------------------------------------------------------------------------
// 1. Connect and route.

func TestRoutesFramesChatAndDropsMalformed(t *testing.T) {
	h := newHarness(t)
	h.start(func(c *gateway.Config) { c.Limits = messages.Limits{MaxFrameLen: 512} })
	h.waitConnected()

	up := h.nextUp()
	assert.Equal(t, &protocol.ConnectionUp{RoomName: h.gw.Identity().Room, UserID: smokey.UserID, UserName: smokey.UserName, MaxMessageLen: memchat.DefaultMaxMessageLen}, up)
	assert.Equal(t, memchat.DefaultMaxMessageLen, h.gw.MaxMessageLen())
	st := h.gw.State()
	assert.True(t, st.Connected)
	assert.NoError(t, st.Err)
	assert.False(t, st.Permanent)
	assert.Equal(t, h.clock.Now(), st.Since)

	// A valid frame from someone else, with an envelope.
	type beverage struct {
		MessageID    int64  `msgpack:"message_id"`
		BeverageType string `msgpack:"beverage_type"`
	}
	env := &messages.Envelope{Node: "node-b", Seq: 7, Time: 1700000000000}
	frame, err := messages.EncodeFrame(messages.Payload{
		"ping":     "hello",
		"beverage": beverage{MessageID: 42, BeverageType: "coffee"},
	}, env)
	require.NoError(t, err)
	frameID := h.room.Say(alice, frame)

	msgs := h.col.waitFor(t, "the frame", func(m []any) bool { return len(m) >= 1 })
	require.Len(t, msgs, 1)
	in, ok := msgs[0].(*protocol.Inbound)
	require.Truef(t, ok, "want *protocol.Inbound, got %T", msgs[0])
	assert.Equal(t, frameID, in.Chat.ID)
	assert.Equal(t, alice.UserID, in.Chat.UserID)
	assert.Equal(t, alice.UserName, in.Chat.UserName)
	require.Len(t, in.Frame.Types, 2)
	assert.Equal(t, "beverage", in.Frame.Types[0].Type) // EncodeFrame sorts keys
	assert.Equal(t, "ping", in.Frame.Types[1].Type)
	var bev beverage
	require.NoError(t, msgpack.Unmarshal(in.Frame.Types[0].Data, &bev))
	assert.Equal(t, beverage{MessageID: 42, BeverageType: "coffee"}, bev)
	var ping string
	require.NoError(t, msgpack.Unmarshal(in.Frame.Types[1].Data, &ping))
	assert.Equal(t, "hello", ping)
	require.NotNil(t, in.Frame.Envelope)
	assert.Equal(t, *env, *in.Frame.Envelope)
	assert.EqualValues(t, 1, h.counters.Frames.Load())

	// A plain chat line, and one that only starts like a frame (its id is
	// not four digits): both are chat, not drops.
	plainID := h.room.Say(alice, "!!/coffee")
	notFrame := messages.FramePrefix + "12x4" + base64.StdEncoding.EncodeToString([]byte{0x80}) + "\x03"
	h.room.Say(alice, notFrame)
	msgs = h.col.waitFor(t, "two chat lines", func(m []any) bool { return len(m) >= 3 })
	require.Len(t, msgs, 3)
	ci, ok := msgs[1].(*protocol.ChatInbound)
	require.Truef(t, ok, "want *protocol.ChatInbound, got %T", msgs[1])
	assert.Equal(t, messages.ChatMessage{
		ID: plainID, UserID: alice.UserID, UserName: alice.UserName, Text: "!!/coffee", Time: ci.Chat.Time,
	}, ci.Chat)
	assert.False(t, ci.Chat.Time.IsZero())
	ci, ok = msgs[2].(*protocol.ChatInbound)
	require.Truef(t, ok, "want *protocol.ChatInbound, got %T", msgs[2])
	assert.Equal(t, notFrame, ci.Chat.Text)

	// Malformed frames: each dropped and counted by reason.
	big, err := messages.Encode(messages.Payload{"ping": strings.Repeat("x", 600)})
	require.NoError(t, err)
	malformed := []struct {
		text   string
		reason string
	}{
		{rawFrame("@@@@not*base64"), "bad_base64"},
		{rawFrame("YWJj"[:3]), "bad_base64"}, // unpadded
		{b64Frame(0xc1), "bad_msgpack"},      // 0xc1 is never used
		{b64Frame(0x81, 0xa1, 'a'), "bad_msgpack"},
		{b64Frame(0x05), "not_map"},                                 // the int 5
		{b64Frame(0x92, 0x01, 0x02), "not_map"},                     // [1, 2]
		{b64Frame(0xa3, 'a', 'b', 'c'), "not_map"},                  // "abc"
		{b64Frame(0x81, 0x01, 0x02), "non_string_key"},              // {1: 2}
		{b64Frame(0x81, 0xa3, '_', 's', 's', 0x05), "bad_envelope"}, // {"_ss": 5}
		{big, "too_large"},
	}
	want := map[string]int64{}
	for _, m := range malformed {
		h.room.Say(alice, m.text)
		want[m.reason]++
	}
	// The reader handles messages in order, so once a sentinel after them
	// arrives, every malformed frame has been handled.
	h.room.Say(alice, "sentinel")
	msgs = h.col.waitFor(t, "the sentinel", hasChat("sentinel"))
	require.Len(t, msgs, 4, "malformed frames must never reach the router")
	assert.Equal(t, want, h.counters.Dropped())
	assert.EqualValues(t, 1, h.counters.Frames.Load())
	assert.True(t, h.gw.State().Connected, "malformed frames must not break the connection")
}

// ---------------------------------------------------------------------------
// 2. Posts in order.

func TestEnqueuePostsInOrder(t *testing.T) {
	h := newHarness(t)
	h.start(nil)
	want := texts("post", 200)
	// Enqueued at once, racing the first dial: what is queued before the
	// connection is up waits for it.
	h.enqueue(want...)
	h.drain()

	assert.Equal(t, want, h.posted())
	assert.EqualValues(t, 200, h.counters.Posted.Load())
	assert.Zero(t, h.gw.Queued())
	assert.Zero(t, h.counters.PostFailures.Load())
	assert.Empty(t, h.counters.Dropped())

	// The room echoes the gateway's own posts; they reach the router as chat.
	msgs := h.col.waitFor(t, "the echoes", func(m []any) bool { return len(chatFrom(m, smokey.UserID)) >= 200 })
	assert.Equal(t, want, chatFrom(msgs, smokey.UserID))

	// Drain with nothing queued returns at once.
	h.drain()
}

// ---------------------------------------------------------------------------
// 3. Reconnect with backoff.

func TestReconnectsWithExponentialBackoff(t *testing.T) {
	h := newHarness(t)
	h.start(nil)
	h.waitConnected()
	h.nextUp()
	require.EqualValues(t, 1, h.attempts.Load())
	require.Equal(t, 1, h.member.Dials())
	require.Zero(t, h.clock.Pending())

	h.member.Break(nil)
	d := h.nextTimer()
	require.Equal(t, delay(0), d)
	require.Equal(t, 500*time.Millisecond, d) // DefaultInitial, un-jittered
	st := h.gw.State()
	assert.False(t, st.Connected)
	assert.False(t, st.Permanent)
	require.ErrorIs(t, st.Err, memchat.ErrBroken)
	assert.Equal(t, h.clock.Now(), st.Since)
	down := h.nextDown()
	assert.Equal(t, d, down.RetryIn)
	assert.False(t, down.Permanent)
	assert.ErrorIs(t, down.Err, memchat.ErrBroken)

	// The next three dials fail; each failure doubles the delay.
	h.member.FailDials(3, errBoom)
	for n := 1; n <= 3; n++ {
		// Nothing dials before the timer fires.
		h.clock.Advance(d - time.Nanosecond)
		require.Equal(t, 1, h.clock.Pending(), "timer fired early")
		require.EqualValues(t, n, h.attempts.Load(), "dialed before the timer fired")
		require.Equal(t, 1, h.member.Dials())

		h.clock.Advance(time.Nanosecond)
		d = h.nextTimer()
		require.Equal(t, delay(n), d, "delay after failure %d", n+1)
		require.EqualValues(t, n+1, h.attempts.Load(), "one dial per timer")
		st = h.gw.State()
		assert.False(t, st.Connected)
		assert.ErrorIs(t, st.Err, errBoom)
		down = h.nextDown()
		assert.Equal(t, d, down.RetryIn)
		assert.ErrorIs(t, down.Err, errBoom)
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, []time.Duration{delay(1), delay(2), delay(3)})

	h.clock.Advance(d - time.Nanosecond)
	require.EqualValues(t, 4, h.attempts.Load())
	require.Equal(t, 1, h.member.Dials())
	h.clock.Advance(time.Nanosecond)
	h.waitConnected()
	h.nextUp()
	assert.EqualValues(t, 5, h.attempts.Load())
	assert.Equal(t, 2, h.member.Dials())
	assert.EqualValues(t, 1, h.counters.Reconnects.Load())
	st = h.gw.State()
	assert.True(t, st.Connected)
	assert.NoError(t, st.Err)
	assert.Zero(t, h.clock.Pending())
	assert.Empty(t, h.clock.scheduled)

	// The new connection reads and posts.
	h.room.Say(alice, "after reconnect")
	h.col.waitFor(t, "a message on the new connection", hasChat("after reconnect"))
	h.enqueue("posted after reconnect")
	h.drain()
	assert.Equal(t, []string{"posted after reconnect"}, h.posted())
}

func TestReconnectDelayIsJittered(t *testing.T) {
	h := newHarness(t)
	h.member.FailDials(2, errBoom)
	h.start(func(c *gateway.Config) { c.Rand = func() float64 { return 0.75 } })
	b := gateway.DefaultReconnectPolicy().Backoff
	for n := range 2 {
		d := h.nextTimer()
		require.Equal(t, b.Delay(n, 0.75), d)
		// Equal jitter: within (base/2, base].
		assert.Greater(t, d, delay(n)/2)
		assert.Less(t, d, delay(n))
		h.clock.Advance(d)
	}
	h.waitConnected()
	assert.Zero(t, h.counters.Reconnects.Load(), "a first connection after failed dials is not a reconnect")
}

func TestGivesUpAfterMaxFailures(t *testing.T) {
	h := newHarness(t)
	h.member.FailDials(100, errBoom)
	policy := gateway.DefaultReconnectPolicy()
	policy.MaxFailures, policy.Window = 2, 0
	h.start(func(c *gateway.Config) { c.Policy = &policy })
	h.clock.Advance(h.nextTimer())
	h.clock.Advance(h.nextTimer())

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	err := h.gw.WaitConnected(ctx)
	isStopped(t, err)
	assert.ErrorIs(t, err, errBoom)
	assert.True(t, h.gw.State().Permanent)
	assert.EqualValues(t, 3, h.attempts.Load())
	assert.Zero(t, h.clock.Pending())
	assert.Empty(t, h.clock.scheduled)
	isStopped(t, h.gw.Enqueue(context.Background(), protocol.Outbound{Text: "x"}, false))
}

// ---------------------------------------------------------------------------
// 4. The queue survives disconnects.

func TestQueueSurvivesDisconnects(t *testing.T) {
	h := newHarness(t)
	h.start(nil)
	h.waitConnected()

	before := texts("before", 10)
	h.enqueue(before...)
	h.drain() // nothing in flight when the connection breaks

	h.member.Break(nil)
	d := h.nextTimer()
	during := texts("during", 50)
	h.enqueue(during...)
	assert.Equal(t, 50, h.gw.Queued())
	assert.Equal(t, before, h.posted(), "nothing posts while disconnected")

	h.clock.Advance(d)
	h.drain()
	assert.Equal(t, append(append([]string(nil), before...), during...), h.posted())

	// Again, with failed dials in between, and timers firing while texts
	// arrive. The backoff goes on from where it was: it starts over only once
	// the policy's ResetAfter has passed since the last failure, not merely
	// because a connection came up (a flapping server is not hammered).
	h.member.Break(errBoom)
	d = h.nextTimer()
	assert.Equal(t, delay(1), d)
	again := texts("again", 50)
	h.member.FailDials(2, nil)
	for i, s := range again {
		h.enqueue(s)
		if i == 10 || i == 30 {
			h.clock.Advance(d)
			d = h.nextTimer() // the dial failed
		}
	}
	assert.Equal(t, delay(3), d)
	assert.Equal(t, append(append([]string(nil), before...), during...), h.posted())
	h.clock.Advance(d)
	h.drain()

	want := append(append(append([]string(nil), before...), during...), again...)
	assert.Equal(t, want, h.posted(), "in order, none lost, none duplicated")
	assert.EqualValues(t, len(want), h.counters.Posted.Load())
	assert.EqualValues(t, 2, h.counters.Reconnects.Load())
	assert.Zero(t, h.gw.Queued())
}

// ---------------------------------------------------------------------------
// 5. A failed post is retried after reconnect.

func TestFailedPostIsRetriedAfterReconnect(t *testing.T) {
	h := newHarness(t)
	h.start(nil)
	h.waitConnected()

	h.member.FailPosts(1, errBoom)
	want := texts("p", 5)
	h.enqueue(want...)
	d := h.nextTimer()
	assert.Equal(t, delay(0), d)
	st := h.gw.State()
	assert.False(t, st.Connected)
	assert.ErrorIs(t, st.Err, errBoom)
	assert.Empty(t, h.posted())
	assert.Equal(t, 5, h.gw.Queued())

	h.clock.Advance(d)
	h.drain()
	assert.Equal(t, want, h.posted())
	assert.EqualValues(t, 1, h.counters.PostFailures.Load())
	assert.EqualValues(t, 5, h.counters.Posted.Load())
	assert.EqualValues(t, 1, h.counters.Reconnects.Load())
	assert.Equal(t, 2, h.member.Dials())
}

// ---------------------------------------------------------------------------
// 6. Permanent failure.

func TestPermanentDialFailureStops(t *testing.T) {
	h := newHarness(t)
	cause := errors.New("bad password")
	h.member.FailDials(1, chatgateway.Permanent(cause))
	h.start(nil)

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	err := h.gw.WaitConnected(ctx)
	isStopped(t, err)
	assert.ErrorIs(t, err, cause)
	assert.ErrorIs(t, err, chatgateway.ErrPermanent)

	st := h.gw.State()
	assert.True(t, st.Permanent)
	assert.False(t, st.Connected)
	assert.ErrorIs(t, st.Err, cause)
	down := h.nextDown()
	assert.True(t, down.Permanent)
	assert.ErrorIs(t, down.Err, cause)

	assert.Zero(t, h.clock.Pending(), "no retry after a permanent failure")
	assert.Empty(t, h.clock.scheduled)
	err = h.gw.Enqueue(context.Background(), protocol.Outbound{Text: "x"}, false)
	isStopped(t, err)
	assert.ErrorIs(t, err, cause)
	assert.Zero(t, h.gw.Queued())
	h.drain() // nothing queued: returns nil

	// Even with time passing, it never dials again.
	h.clock.Advance(time.Hour)
	assert.EqualValues(t, 1, h.attempts.Load())
}

func TestPermanentPostFailureStops(t *testing.T) {
	h := newHarness(t)
	h.start(nil)
	h.waitConnected()
	cause := errors.New("account suspended")
	h.member.FailPosts(1, chatgateway.Permanent(cause))
	h.enqueue("a")

	h.nextUp()
	down := h.nextDown()
	assert.True(t, down.Permanent)
	assert.True(t, h.gw.State().Permanent)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	err := h.gw.WaitConnected(ctx)
	isStopped(t, err)
	assert.ErrorIs(t, err, cause)
	assert.Zero(t, h.clock.Pending())
	assert.Equal(t, 1, h.gw.Queued(), "the failed post stays queued")

	err = h.gw.Drain(ctx)
	isStopped(t, err)
	assert.ErrorIs(t, err, cause)
	isStopped(t, h.gw.Enqueue(context.Background(), protocol.Outbound{Text: "b"}, false))

	h.gw.Stop()
	assert.Equal(t, map[string]int64{"abandoned": 1}, h.counters.Dropped())
	assert.Zero(t, h.gw.Queued())
	assert.Empty(t, h.posted())
}

// ---------------------------------------------------------------------------
// 7. The queue is bounded.

func TestQueueBound(t *testing.T) {
	h := newHarness(t)
	h.member.FailDials(1, errBoom)
	h.start(func(c *gateway.Config) { c.QueueSize = 3 })
	d := h.nextTimer() // the first dial failed; nothing dials until Advance

	ctx := context.Background()
	for _, s := range []string{"a", "b", "c"} {
		require.NoError(t, h.gw.Enqueue(ctx, protocol.Outbound{Text: s}, false))
	}
	assert.Equal(t, 3, h.gw.Queued())
	require.ErrorIs(t, h.gw.Enqueue(ctx, protocol.Outbound{Text: "full"}, false), gateway.ErrQueueFull)

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	err := h.gw.Enqueue(short, protocol.Outbound{Text: "late"}, true)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, gateway.ErrQueueFull)
	assert.Equal(t, 3, h.gw.Queued())

	// A waiting Enqueue gets in once the queue moves.
	long, cancelLong := context.WithTimeout(ctx, waitLimit)
	defer cancelLong()
	waited := make(chan error, 1)
	go func() { waited <- h.gw.Enqueue(long, protocol.Outbound{Text: "d"}, true) }()
	h.clock.Advance(d)
	select {
	case err := <-waited:
		require.NoError(t, err)
	case <-time.After(waitLimit):
		t.Fatal("waiting Enqueue never got room")
	}
	h.drain()
	assert.Equal(t, []string{"a", "b", "c", "d"}, h.posted())
	assert.Zero(t, h.gw.Queued())
}

func TestQueueBoundUnderConcurrentWaiters(t *testing.T) {
	h := newHarness(t)
	h.start(func(c *gateway.Config) { c.QueueSize = 4 })
	h.waitConnected()

	const senders, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for g := range senders {
		wg.Go(func() {
			for _, s := range texts(fmt.Sprintf("s%d", g), each) {
				if err := h.gw.Enqueue(context.Background(), protocol.Outbound{Text: s}, true); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	h.drain()

	got := h.posted()
	require.Len(t, got, senders*each)
	// Each sender's texts post in its order; none twice.
	seen := map[string]bool{}
	next := map[string]int{}
	for _, s := range got {
		require.False(t, seen[s], "posted twice: %q", s)
		seen[s] = true
		prefix, num, _ := strings.Cut(s, "-")
		n, err := strconv.Atoi(num)
		require.NoError(t, err)
		require.Equal(t, next[prefix], n, "sender %s out of order", prefix)
		next[prefix]++
	}
	assert.Zero(t, h.gw.Queued())
}

// ---------------------------------------------------------------------------
// 8. Posts over the server's limit.

func TestTooLongIsDropped(t *testing.T) {
	h := newHarness(t, memchat.WithMaxMessageLen(50))
	h.start(nil)
	h.waitConnected()
	assert.Equal(t, 50, h.gw.MaxMessageLen())

	h.enqueue("first", strings.Repeat("x", 100), "second")
	h.drainDropped(map[string]int{"message_too_long": 1})
	assert.Equal(t, []string{"first", "second"}, h.posted())
	assert.Equal(t, map[string]int64{"message_too_long": 1}, h.counters.Dropped())
	assert.EqualValues(t, 2, h.counters.Posted.Load())
	assert.Zero(t, h.counters.PostFailures.Load())
	assert.Zero(t, h.gw.Queued())
	assert.True(t, h.gw.State().Connected)
}

// limitlessConn reports no length limit, so the gateway learns of the
// limit only from Post's ErrMessageTooLong.
type limitlessConn struct{ chatgateway.Conn }

func (limitlessConn) Limits() chatgateway.Limits { return chatgateway.Limits{} }

func TestTooLongRejectedByPostIsDropped(t *testing.T) {
	h := newHarness(t, memchat.WithMaxMessageLen(50))
	h.wrap = func(c chatgateway.Conn) chatgateway.Conn { return limitlessConn{c} }
	h.start(nil)
	h.waitConnected()
	assert.Zero(t, h.gw.MaxMessageLen())

	h.enqueue("first", strings.Repeat("x", 100), "second")
	h.drainDropped(map[string]int{"message_too_long": 1})
	assert.Equal(t, []string{"first", "second"}, h.posted())
	assert.Equal(t, map[string]int64{"message_too_long": 1}, h.counters.Dropped())
	assert.Zero(t, h.counters.PostFailures.Load(), "too long is not a connection failure")
	assert.Zero(t, h.counters.Reconnects.Load())
	assert.Zero(t, h.clock.Pending())
	assert.Equal(t, 1, h.member.Dials())
	assert.Zero(t, h.gw.Queued())
}

// A Drain waiting on nothing but posts that turn out too long when the
// connection comes up returns once they are dropped.
func TestDrainReturnsWhenOnlyTooLongPostsWereQueued(t *testing.T) {
	h := newHarness(t, memchat.WithMaxMessageLen(50))
	h.member.FailDials(1, errBoom)
	h.start(nil)
	d := h.nextTimer()
	h.enqueue(strings.Repeat("x", 100))

	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		drained <- h.gw.Drain(ctx)
	}()
	// The Drain must reach the gateway before the connection comes up (it
	// cannot finish before then, as the text waits in the queue).
	waitBlockedIn(t, "gateway.(*Gateway).Drain(")
	h.clock.Advance(d)
	h.waitConnected()
	var dropped *gateway.DroppedError
	require.ErrorAs(t, <-drained, &dropped, "the drop is reported")
	assert.Equal(t, map[string]int{"message_too_long": 1}, dropped.Reasons)
	assert.Equal(t, map[string]int64{"message_too_long": 1}, h.counters.Dropped())
	assert.Zero(t, h.gw.Queued())
	assert.Empty(t, h.posted())
}

// ---------------------------------------------------------------------------
// 9. Stop abandons the queue.

func TestStopAbandonsQueue(t *testing.T) {
	h := newHarness(t)
	h.start(nil)
	h.waitConnected()
	h.member.Break(nil)
	h.nextTimer()

	h.enqueue(texts("q", 7)...)
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		drained <- h.gw.Drain(ctx)
	}()
	waitBlockedIn(t, "gateway.(*Gateway).Drain(")

	h.gw.Stop()
	assert.Equal(t, map[string]int64{"abandoned": 7}, h.counters.Dropped())
	assert.Zero(t, h.gw.Queued())
	assert.Zero(t, h.clock.Pending(), "Stop cancels the reconnect timer")
	assert.Empty(t, h.posted())
	// A Drain waiting when the queue was abandoned must not report success.
	select {
	case err := <-drained:
		isStopped(t, err)
	case <-time.After(waitLimit):
		t.Fatal("Drain did not return after Stop")
	}

	isStopped(t, h.gw.Enqueue(context.Background(), protocol.Outbound{Text: "after stop"}, false))
	isStopped(t, h.gw.Enqueue(context.Background(), protocol.Outbound{Text: "after stop"}, true))
	assert.Zero(t, h.gw.Queued())
	h.gw.Stop() // idempotent
}

func TestStopRightAfterNew(t *testing.T) {
	h := newHarness(t)
	h.start(nil)
	h.gw.Stop()
	assert.Empty(t, h.counters.Dropped())
	assert.Zero(t, h.clock.Pending())
}

func TestStopWhileConnectedClosesConnection(t *testing.T) {
	h := newHarness(t)
	var conns []*recConn
	var mu sync.Mutex
	h.wrap = func(c chatgateway.Conn) chatgateway.Conn {
		rc := &recConn{Conn: c}
		mu.Lock()
		conns = append(conns, rc)
		mu.Unlock()
		return rc
	}
	h.start(nil)
	h.waitConnected()
	h.enqueue(texts("x", 20)...)
	h.drain()
	h.gw.Stop()
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, conns, 1)
	assert.Positive(t, conns[0].closes.Load(), "Stop closes the connection")
}

// ---------------------------------------------------------------------------
// 10. One reader, one writer.

// probe watches a Conn's callers.
type probe struct {
	reads, posts atomic.Int32 // calls in progress
	overlaps     atomic.Int32

	mu     sync.Mutex
	readGs map[uint64]int
	postGs map[uint64]int
}

type probeConn struct {
	chatgateway.Conn
	p *probe
}

func (c *probeConn) Read() (messages.ChatMessage, error) {
	p := c.p
	if p.reads.Add(1) != 1 {
		p.overlaps.Add(1)
	}
	defer p.reads.Add(-1)
	p.note(p.readGs)
	return c.Conn.Read()
}

func (c *probeConn) Post(ctx context.Context, text string) (int64, error) {
	p := c.p
	if p.posts.Add(1) != 1 {
		p.overlaps.Add(1)
	}
	defer p.posts.Add(-1)
	p.note(p.postGs)
	runtime.Gosched() // widen the window for a second caller
	return c.Conn.Post(ctx, text)
}

func (p *probe) note(m map[uint64]int) {
	id := goid()
	p.mu.Lock()
	m[id]++
	p.mu.Unlock()
}

// goid is the calling goroutine's id, from its stack header
// ("goroutine 123 [running]:").
func goid() uint64 {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	s, _, _ = strings.Cut(s, " ")
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic("goid: " + err.Error())
	}
	return id
}

func TestOneReaderOneWriter(t *testing.T) {
	h := newHarness(t)
	p := &probe{readGs: map[uint64]int{}, postGs: map[uint64]int{}}
	var dialed atomic.Int32
	h.wrap = func(c chatgateway.Conn) chatgateway.Conn {
		dialed.Add(1)
		return &probeConn{Conn: c, p: p}
	}
	h.start(nil)
	h.waitConnected()

	const enqueuers, each, inbound = 5, 100, 500
	var wg sync.WaitGroup
	for g := range enqueuers {
		wg.Go(func() {
			for _, s := range texts(fmt.Sprintf("out%d", g), each) {
				assert.NoError(t, h.gw.Enqueue(context.Background(), protocol.Outbound{Text: s}, true))
			}
		})
	}
	in := texts("in", inbound)
	wg.Go(func() {
		for _, s := range in {
			h.room.Say(alice, s)
		}
	})
	wg.Wait()
	h.drain()

	msgs := h.col.waitFor(t, "every inbound message and echo", func(m []any) bool {
		return len(chatFrom(m, alice.UserID)) == inbound && len(chatFrom(m, smokey.UserID)) == enqueuers*each
	})
	assert.Equal(t, in, chatFrom(msgs, alice.UserID), "inbound in room order")
	assert.Len(t, h.posted(), enqueuers*each)
	assert.EqualValues(t, enqueuers*each, h.counters.Posted.Load())

	require.EqualValues(t, 1, dialed.Load())
	assert.Zero(t, p.overlaps.Load(), "two Reads or two Posts overlapped")
	p.mu.Lock()
	defer p.mu.Unlock()
	require.Len(t, p.readGs, 1, "Read called from more than one goroutine")
	require.Len(t, p.postGs, 1, "Post called from more than one goroutine")
	var reader, writer uint64
	for g := range p.readGs {
		reader = g
	}
	for g, n := range p.postGs {
		writer = g
		assert.Equal(t, enqueuers*each, n)
	}
	assert.NotEqual(t, reader, writer, "reader and writer are distinct goroutines")
	assert.NotEqual(t, goid(), reader)
	assert.NotEqual(t, goid(), writer)
}

// ---------------------------------------------------------------------------
// 11. A dial that returns after Stop has its Conn closed.

type recConn struct {
	chatgateway.Conn
	closes atomic.Int32
}

func (c *recConn) Close() error {
	c.closes.Add(1)
	return c.Conn.Close()
}

func TestDialReturningAfterStopIsClosed(t *testing.T) {
	h := newHarness(t)
	dialing := make(chan struct{})
	release := make(chan struct{})
	var returned atomic.Pointer[recConn]
	h.start(func(c *gateway.Config) {
		c.Dialer = chatgateway.DialerFunc(func(context.Context) (chatgateway.Conn, error) {
			close(dialing)
			<-release // deliberately ignores ctx, as a slow dialer might
			conn, err := h.member.Dial(context.Background())
			if err != nil {
				return nil, err
			}
			rc := &recConn{Conn: conn}
			returned.Store(rc)
			return rc, nil
		})
	})
	<-dialing

	stopped := make(chan struct{})
	go func() {
		h.gw.Stop()
		close(stopped)
	}()
	// The actor stops without waiting for the dial; WaitConnected then
	// reports ErrStopped.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	isStopped(t, h.gw.WaitConnected(ctx))
	select {
	case <-stopped:
		t.Fatal("Stop returned while its dial goroutine was still running")
	default:
	}

	close(release)
	select {
	case <-stopped:
	case <-time.After(waitLimit):
		t.Fatal("Stop did not return after the dial did")
	}
	rc := returned.Load()
	require.NotNil(t, rc)
	assert.EqualValues(t, 1, rc.closes.Load(), "the late connection was closed")
	assert.False(t, h.gw.State().Connected)
	assert.Empty(t, h.states, "a late connection is never reported up")
}

// By default only the connection's own account is trusted.
func TestUntrustedFramesAreDropped(t *testing.T) {
	h := newHarness(t)
	h.start(func(c *gateway.Config) { c.TrustedUsers = nil })
	h.waitConnected()
	text, err := messages.Encode(messages.Payload{"t": 1})
	require.NoError(t, err)
	h.room.Say(alice, text)
	h.room.Say(smokey, text)
	msgs := h.col.waitFor(t, "the own account's frame", func(msgs []any) bool { return len(msgs) > 0 })
	require.Len(t, msgs, 1)
	require.Equal(t, smokey.UserID, msgs[0].(*protocol.Inbound).Chat.UserID)
	require.Equal(t, int64(1), h.counters.Dropped()["untrusted"])
}

// A post the server says to retry later is held that long, on the clock,
// then posted again on the same connection; later posts are paced to the
// rate the server asked for.
func TestRetryAfterHoldsAndPaces(t *testing.T) {
	h := newHarness(t)
	h.start(nil)
	h.waitConnected()
	dials := h.member.Dials()
	h.member.FailPosts(1, chatgateway.RetryAfter(3*time.Second, errors.New("409")))
	h.enqueue("first")
	require.Equal(t, 3*time.Second, h.nextTimer(), "held for the retry-after")
	h.enqueue("second")
	require.Empty(t, h.posted(), "nothing posts while held")
	h.clock.Advance(3 * time.Second)
	// The learned pace has relaxed for the 3 s that passed.
	relaxed := time.Duration(float64(3*time.Second) * math.Exp2(-float64(3*time.Second)/float64(gateway.LearnedPaceHalfLife)))
	require.InDelta(t, relaxed, h.nextTimer(), float64(time.Millisecond), "the second post waits its turn at the learned rate")
	require.Equal(t, []string{"first"}, h.posted())
	h.clock.Advance(relaxed)
	h.drain()
	require.Equal(t, []string{"first", "second"}, h.posted())
	require.Equal(t, dials, h.member.Dials(), "no reconnect")
	require.Equal(t, int64(1), h.counters.Throttled.Load())
	require.Zero(t, h.counters.PostFailures.Load())
}
