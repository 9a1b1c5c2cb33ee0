package chatgateway

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience/internal/goroutines"
	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor"
	"golang.org/x/time/rate"
)

// DefaultQueueSize is how many posts may wait in the outbound queue,
// counting the one in flight.
const DefaultQueueSize = 1000

// DefaultReconnectPolicy is the connection's restart policy: backoff from
// 500 ms doubling to 30 s with jitter, never giving up on transient errors.
func DefaultReconnectPolicy() supervisor.Policy {
	p := supervisor.DefaultPolicy()
	p.MaxFailures = 0
	return p
}

// Config is what a Gateway needs. System, Dialer and Router are required.
type Config struct {
	System *actor.ActorSystem
	Dialer Dialer
	// Router receives *messages.Inbound and *messages.ChatInbound.
	Router *actor.PID
	// Policy is the reconnect policy. Defaults to DefaultReconnectPolicy().
	Policy *supervisor.Policy
	// Clock times reconnects. Defaults to supervisor.SystemClock{}.
	Clock supervisor.Clock
	// Rand jitters reconnects. Defaults to math/rand/v2.Float64.
	Rand func() float64
	// Logger defaults to zerolog.Nop().
	Logger   *zerolog.Logger
	Counters *metrics.Counters
	// QueueSize bounds the outbound queue. Defaults to DefaultQueueSize.
	QueueSize int
	// Limits bound inbound frames. Defaults to messages.DefaultLimits.
	Limits messages.Limits
	// NodeID and Incarnation are put in the envelope of every frame the
	// gateway posts. Incarnation must be random for each start of a node
	// (see messages.Envelope.Incarnation).
	NodeID      string
	Incarnation uint64
	// NoCoalesce stops the gateway from merging queued payloads whose types
	// do not collide into one frame. Merging is on by default: a burst of N
	// payloads then costs one post, not N, under a server's rate limit.
	NoCoalesce bool
	// TrustedUsers and TrustedAccounts are the chat accounts whose frames
	// are accepted, by user id on servers that number accounts, by account
	// string on servers that name them (Identity.Account: IRC, Matrix);
	// frames from anyone else are dropped as untrusted. Both empty means
	// the connection's own account, as SmokeDetector does: its instances
	// share one account.
	TrustedUsers    []int64
	TrustedAccounts []string
	// Secret, if set, signs every frame the gateway posts, and frames read
	// must carry a good signature made within MaxClockSkew of now.
	Secret []byte
	// MaxClockSkew is how far a signed frame's time may be from now.
	// Defaults to DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// Reassembly bounds what incomplete fragmented payloads may hold.
	// Defaults to messages' defaults.
	Reassembly messages.ReassemblyLimits
	// Dispatcher runs the gateway's mailbox. Defaults to protoactor's.
	Dispatcher actor.Dispatcher
	// Guardian supervises the gateway actor itself, should it panic.
	// Defaults to protoactor's default strategy.
	Guardian actor.SupervisorStrategy
	// OnState, if set, is called on the gateway actor with each
	// *messages.ConnectionUp and *messages.ConnectionDown. It must not block.
	OnState func(any)
}

// State is the connection's state as of its last change.
type State struct {
	Connected bool
	// Err is why the connection last went down; nil while connected.
	Err error
	// Permanent means the gateway gave up and will not dial again.
	Permanent bool
	Since     time.Time
}

// Gateway is a handle on the gateway actor.
type Gateway struct {
	cfg      Config
	log      zerolog.Logger
	counters *metrics.Counters
	pid      *actor.PID
	slots    chan struct{} // one per queued or in-flight post
	io       goroutines.Group
	life     context.Context
	cancel   context.CancelFunc
	stopped  chan struct{}
	state    atomic.Pointer[State]
	changed  atomic.Pointer[chan struct{}] // closed and replaced on every state change
	limits   atomic.Pointer[Limits]

	mu     sync.Mutex // orders the last Outbound and dial result before the PoisonPill
	closed bool

	// Owned by the actor.
	self     *actor.PID // g.pid as the actor sees it: g.pid is set after Started may run
	conn     Conn
	gen      int // bumped per dial; results from older generations are stale
	writer   chan string
	connStop context.CancelFunc
	out      outbox
	in       inbound
	inflight bool // a post is with the writer
	// limiter paces posts to the server's rate; nil while none is known.
	limiter  *rate.Limiter
	granted  bool             // a limiter token is reserved for the next post
	hold     supervisor.Timer // posting waits for it: the rate, or a retry-after
	tracker  *supervisor.Tracker
	retry    supervisor.Timer
	drains   []chan struct{}
	ups      int
	logDrops rate.Sometimes
}

// New spawns the gateway actor, which starts dialing at once.
func New(cfg Config) *Gateway {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Clock == nil {
		cfg.Clock = supervisor.SystemClock{}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.Counters == nil {
		cfg.Counters = new(metrics.Counters)
	}
	policy := DefaultReconnectPolicy()
	if cfg.Policy != nil {
		policy = *cfg.Policy
	}
	g := &Gateway{
		cfg:      cfg,
		log:      zerolog.Nop(),
		counters: cfg.Counters,
		slots:    make(chan struct{}, cfg.QueueSize),
		stopped:  make(chan struct{}),
		tracker:  policy.NewTracker(cfg.Clock, cfg.Rand),
		logDrops: rate.Sometimes{First: 5, Interval: 10 * time.Second},
	}
	if cfg.Logger != nil {
		g.log = *cfg.Logger
	}
	g.out = outbox{node: cfg.NodeID, incarnation: cfg.Incarnation, coalesce: !cfg.NoCoalesce, secret: cfg.Secret,
		reassembly: cfg.Reassembly}
	g.in = inbound{limits: cfg.Limits, secret: cfg.Secret, skew: cfg.MaxClockSkew, clock: cfg.Clock, start: cfg.Clock.Now(),
		reassembler: messages.NewReassembler(cfg.Reassembly),
		dropped: func(r metrics.Reason, n int) {
			for range n {
				g.counters.Drop(r)
			}
			g.logDrops.Do(func() {
				g.log.Warn().Str("reason", r.String()).Int("count", n).Msg("dropped incomplete fragmented payloads")
			})
		}}
	if g.in.skew <= 0 {
		g.in.skew = DefaultMaxClockSkew
	}
	g.life, g.cancel = context.WithCancel(context.Background())
	g.state.Store(&State{Since: cfg.Clock.Now()})
	changed := make(chan struct{})
	g.changed.Store(&changed)
	var opts []actor.PropsOption
	if cfg.Dispatcher != nil {
		opts = append(opts, actor.WithDispatcher(cfg.Dispatcher))
	}
	if cfg.Guardian != nil {
		opts = append(opts, actor.WithGuardian(cfg.Guardian))
	}
	g.pid = cfg.System.Root.SpawnPrefix(actor.PropsFromProducer(func() actor.Actor { return g }, opts...), "gateway")
	return g
}

// State returns the connection's current state.
func (g *Gateway) State() State { return *g.state.Load() }

// WaitConnected blocks until the gateway is connected, or has failed for
// good, or ctx ends.
func (g *Gateway) WaitConnected(ctx context.Context) error {
	for {
		changed := *g.changed.Load()
		switch s := g.State(); {
		case s.Connected:
			return nil
		case s.Permanent:
			return fmt.Errorf("%w: %w", ErrStopped, s.Err)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-g.stopped:
			return ErrStopped
		}
	}
}

// Queued is how many posts are queued or in flight.
func (g *Gateway) Queued() int { return len(g.slots) }

// Reassembling is how many incomplete fragmented payloads the gateway
// holds, and their bytes. Payloads that have timed out are dropped, and
// counted, first: without new pieces nothing else would notice them.
func (g *Gateway) Reassembling() (payloads, bytes int) {
	g.in.expire(g.cfg.Clock.Now())
	return g.in.reassembler.Pending()
}

// MaxMessageLen is the connected server's limit, or 0 when unknown.
func (g *Gateway) MaxMessageLen() int { return g.Limits().MaxMessageLen }

// Limits are the connected server's limits; zero before the first
// connection.
func (g *Gateway) Limits() Limits {
	if l := g.limits.Load(); l != nil {
		return *l
	}
	return Limits{}
}

// Enqueue queues out for posting. When the queue is full it waits for room
// until ctx ends, or returns ErrQueueFull at once if wait is false.
func (g *Gateway) Enqueue(ctx context.Context, out messages.Outbound, wait bool) error {
	for {
		changed := *g.changed.Load()
		if s := g.State(); s.Permanent {
			return fmt.Errorf("%w: %w", ErrStopped, s.Err)
		}
		select {
		case g.slots <- struct{}{}:
			return g.send(&out, true)
		default:
		}
		if !wait {
			return ErrQueueFull
		}
		select {
		case g.slots <- struct{}{}:
			return g.send(&out, true)
		case <-ctx.Done():
			return fmt.Errorf("chatgateway: waiting for queue room: %w", ctx.Err())
		case <-changed: // a permanent failure must not leave senders waiting
		}
	}
}

// send delivers msg to the gateway actor unless it is stopping; a slot
// taken for msg is given back then.
func (g *Gateway) send(msg any, slot bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		if slot {
			<-g.slots
		}
		return ErrStopped
	}
	g.cfg.System.Root.Send(g.pid, msg)
	return nil
}

// Drain waits until everything queued has been posted, or ctx ends, or the
// gateway has given up for good.
func (g *Gateway) Drain(ctx context.Context) error {
	done := make(chan struct{})
	if err := g.send(&messages.Drain{Done: done}, false); err != nil {
		return err
	}
	select {
	case <-done:
		if s := g.State(); s.Permanent && g.Queued() > 0 {
			return fmt.Errorf("%w: %w", ErrStopped, s.Err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stopped:
		return ErrStopped
	}
}

// Stop stops the gateway: what is still queued is dropped (counted as
// abandoned), the connection is closed, and Stop returns once the gateway's
// goroutines have ended.
func (g *Gateway) Stop() {
	g.mu.Lock()
	already := g.closed
	g.closed = true
	g.mu.Unlock()
	if !already {
		// Poison, not Stop: a dial result already in the mailbox must be
		// seen so that its connection is closed.
		g.cfg.System.Root.Poison(g.pid)
	}
	<-g.stopped
	g.cancel()
	_ = g.io.Wait(context.Background())
}

type (
	dialed struct {
		gen  int
		conn Conn
		err  error
	}
	readFailed struct {
		gen int
		err error
	}
	posted struct {
		gen int
		err error
	}
	redial struct{ gen int }
	resume struct{}
)

// Receive is the gateway actor.
func (g *Gateway) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		g.self = c.Self()
		g.dial()
	case *actor.Restarting:
		g.teardown()
	case *messages.Outbound:
		g.out.push(*m)
		g.pump()
	case *messages.Drain:
		g.drains = append(g.drains, m.Done)
		g.checkDrained()
	case *dialed:
		switch {
		case m.gen != g.gen:
			if m.conn != nil {
				_ = m.conn.Close()
			}
		case m.err != nil:
			g.down(fmt.Errorf("dial: %w", m.err))
		default:
			g.up(m.conn)
		}
	case *readFailed:
		if m.gen == g.gen && g.conn != nil {
			g.down(fmt.Errorf("read: %w", m.err))
		}
	case *posted:
		if m.gen == g.gen {
			g.posted(m.err)
		}
	case *redial:
		if m.gen == g.gen {
			g.dial()
		}
	case *resume:
		g.hold = nil
		g.pump()
	case *actor.Stopping:
		g.setState(State{Err: ErrStopped, Permanent: true})
		g.teardown()
		for _, t := range []supervisor.Timer{g.retry, g.hold} {
			if t != nil {
				t.Stop()
			}
		}
		g.abandon()
	case *actor.Stopped:
		close(g.stopped)
	}
}

// tell sends msg to the gateway actor from one of its goroutines or timers,
// unless the gateway is stopping: then it reports false, and nothing ends
// up as a dead letter.
func (g *Gateway) tell(msg any) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.cfg.System.Root.Send(g.self, msg)
	return true
}

func (g *Gateway) dial() {
	g.gen++
	gen := g.gen
	g.io.Go(func() {
		conn, err := g.cfg.Dialer.Dial(g.life)
		if !g.tell(&dialed{gen: gen, conn: conn, err: err}) && conn != nil {
			_ = conn.Close()
		}
	})
}

func (g *Gateway) up(conn Conn) {
	g.conn = conn
	lim, id := conn.Limits(), conn.Identity()
	g.out.room = id.Room
	g.limits.Store(&lim)
	if lim.PostInterval > 0 {
		g.limiter = rate.NewLimiter(rate.Every(lim.PostInterval), max(lim.PostBurst, 1))
	}
	if g.ups > 0 {
		g.counters.Reconnects.Add(1)
	}
	g.ups++
	ctx, stop := context.WithCancel(g.life)
	g.connStop = stop
	g.writer = make(chan string, 1)
	gen, writer := g.gen, g.writer
	g.io.Go(func() { g.read(gen, conn) })
	g.io.Go(func() { g.write(ctx, gen, conn, writer) })
	g.setState(State{Connected: true})
	g.log.Info().Int64("user_id", id.UserID).Str("user", id.UserName).Int("max_message_len", lim.MaxMessageLen).Msg("connected")
	if g.cfg.OnState != nil {
		g.cfg.OnState(&messages.ConnectionUp{UserID: id.UserID, UserName: id.UserName, MaxMessageLen: lim.MaxMessageLen})
	}
	g.pump()
}

// down handles a failed dial, read or post: it closes the connection, puts
// the post in flight back at the head of the queue, and dials again later.
func (g *Gateway) down(err error) {
	g.teardown()
	g.gen++ // results of the dead connection are stale from now on
	delay, giveUp := g.tracker.Failed()
	if errors.Is(err, ErrPermanent) || giveUp {
		g.setState(State{Err: err, Permanent: true})
		g.log.Error().Err(err).Bool("gave_up", giveUp).Int("queued", g.out.len()).Msg("connection failed for good; not reconnecting")
		if g.cfg.OnState != nil {
			g.cfg.OnState(&messages.ConnectionDown{Err: err, Permanent: true})
		}
		g.checkDrained()
		return
	}
	g.setState(State{Err: err})
	g.log.Warn().Err(err).Dur("retry_in", delay).Int("attempt", g.tracker.Attempt()).Int("queued", g.out.len()).Msg("disconnected")
	if g.cfg.OnState != nil {
		g.cfg.OnState(&messages.ConnectionDown{Err: err, RetryIn: delay})
	}
	gen := g.gen
	g.retry = g.cfg.Clock.AfterFunc(delay, func() { g.tell(&redial{gen: gen}) })
}

// teardown closes the connection, if any. A post in flight stays pending,
// to be posted again first.
func (g *Gateway) teardown() {
	if g.conn == nil {
		return
	}
	_ = g.conn.Close()
	g.connStop()
	close(g.writer)
	g.conn, g.writer, g.connStop = nil, nil, nil
	g.inflight = false
}

func (g *Gateway) posted(err error) {
	g.inflight = false
	var retry *RetryAfterError
	switch {
	case err == nil:
		g.counters.Posted.Add(1)
		g.release(g.out.posted())
	case errors.Is(err, ErrMessageTooLong), errors.Is(err, ErrRejected):
		reason := metrics.Rejected
		if errors.Is(err, ErrMessageTooLong) {
			reason = metrics.MessageTooLong
		}
		size := len(g.out.pending.text())
		for range g.out.drop() {
			g.drop(reason, size)
		}
	case errors.As(err, &retry):
		// Still pending: posted again, unchanged, once the server allows.
		g.counters.Throttled.Add(1)
		g.learnRate(retry.After)
		g.holdFor(retry.After)
		g.logDrops.Do(func() {
			g.log.Warn().Err(err).Dur("retry_in", retry.After).Msg("server is throttling posts")
		})
	default:
		g.counters.PostFailures.Add(1)
		g.down(fmt.Errorf("post: %w", err))
		return
	}
	g.pump()
}

// pump hands the writer the next post when it is idle and the server's rate
// allows: one post in flight keeps per-node order and lets a failed post be
// made again, unchanged, before anything else. What arrives while posting
// waits is merged into the next post.
func (g *Gateway) pump() {
	for g.conn != nil && !g.inflight && !g.out.empty() && g.admit() {
		p, tooLong := g.out.next(g.MaxMessageLen(), g.cfg.Clock.Now())
		if p == nil {
			g.drop(metrics.MessageTooLong, tooLong)
			continue
		}
		g.inflight, g.granted = true, false
		g.writer <- p.text()
	}
	// Dropping the last posts (too long) may have emptied the queue.
	g.checkDrained()
}

// admit reports whether a post may go now; if not, it holds posting until
// the limiter's next token, which is then reserved for it.
func (g *Gateway) admit() bool {
	if g.hold != nil {
		return false
	}
	if g.limiter == nil || g.granted {
		return true
	}
	now := g.cfg.Clock.Now()
	if d := g.limiter.ReserveN(now, 1).DelayFrom(now); d > 0 {
		g.granted = true
		g.holdFor(d)
		return false
	}
	return true
}

func (g *Gateway) holdFor(d time.Duration) {
	if g.hold != nil {
		g.hold.Stop()
	}
	g.hold = g.cfg.Clock.AfterFunc(d, func() { g.tell(&resume{}) })
}

// learnRate slows the limiter to one post per after, if it is faster: a
// server that had to say "wait" will say it again at the same pace.
func (g *Gateway) learnRate(after time.Duration) {
	limit := rate.Every(after)
	if g.limiter == nil || limit < g.limiter.Limit() {
		g.limiter = rate.NewLimiter(limit, 1)
		g.granted = false
	}
}

func (g *Gateway) release(n int) {
	for range n {
		<-g.slots
	}
}

func (g *Gateway) drop(r metrics.Reason, size int) {
	<-g.slots
	g.counters.Drop(r)
	g.logDrops.Do(func() {
		g.log.Warn().Str("reason", r.String()).Int("len", size).Int("max", g.MaxMessageLen()).Msg("dropped outbound post")
	})
}

func (g *Gateway) checkDrained() {
	if g.out.empty() || g.State().Permanent {
		for _, d := range g.drains {
			close(d)
		}
		g.drains = nil
	}
}

// abandon drops what is still queued when the gateway stops.
func (g *Gateway) abandon() {
	n := g.out.len()
	for range n {
		g.counters.Drop(metrics.Abandoned)
	}
	g.release(n)
	g.out.items, g.out.pending = nil, nil
	if n > 0 {
		g.log.Warn().Int("count", n).Str("reason", metrics.Abandoned.String()).Msg("dropped queued posts on stop")
	}
	// A Drain still waiting here has had posts abandoned: leave its channel
	// open so that it returns ErrStopped when the gateway has stopped, not
	// nil as if everything had been posted.
	g.drains = nil
}

func (g *Gateway) setState(s State) {
	s.Since = g.cfg.Clock.Now()
	g.state.Store(&s)
	next := make(chan struct{})
	close(*g.changed.Swap(&next))
}

// read is the connection's only reader. It checks and decodes frames here,
// off the actors, and never runs user code.
func (g *Gateway) read(gen int, conn Conn) {
	root := g.cfg.System.Root
	id := conn.Identity()
	trusted := trustFor(g.cfg.TrustedUsers, g.cfg.TrustedAccounts, id)
	for {
		msg, err := conn.Read()
		if err != nil {
			g.tell(&readFailed{gen: gen, err: err})
			return
		}
		frame, err := g.in.check(msg, id.Room, trusted)
		switch {
		case err == nil:
			g.counters.Frames.Add(1)
			root.Send(g.cfg.Router, &messages.Inbound{Frame: frame, Chat: msg})
		case errors.Is(err, messages.ErrNotFrame):
			root.Send(g.cfg.Router, &messages.ChatInbound{Chat: msg})
		case errors.Is(err, errIncomplete):
		default:
			r := dropReason(err)
			g.counters.Drop(r)
			g.logDrops.Do(func() {
				g.log.Warn().Err(err).Str("reason", r.String()).Int64("message_id", msg.ID).Int64("user_id", msg.UserID).Str("user", msg.UserName).Msg("dropped inbound frame")
			})
		}
	}
}

// write is the connection's only writer.
func (g *Gateway) write(ctx context.Context, gen int, conn Conn, texts <-chan string) {
	for text := range texts {
		_, err := conn.Post(ctx, text)
		g.tell(&posted{gen: gen, err: err})
	}
}

func dropReason(err error) metrics.Reason {
	for _, r := range []struct {
		err    error
		reason metrics.Reason
	}{
		{messages.ErrTooLarge, metrics.TooLarge},
		{messages.ErrBadBase64, metrics.BadBase64},
		{messages.ErrBadMsgpack, metrics.BadMsgpack},
		{messages.ErrNotMap, metrics.NotMap},
		{messages.ErrNonStringKey, metrics.NonStringKey},
		{messages.ErrBadEnvelope, metrics.BadEnvelope},
		{ErrUntrusted, metrics.Untrusted},
		{messages.ErrUnsigned, metrics.Unsigned},
		{messages.ErrBadSignature, metrics.BadSignature},
		{ErrStale, metrics.Stale},
		{messages.ErrBadFragment, metrics.BadFragment},
		{messages.ErrFragmentConflict, metrics.FragmentConflict},
		{messages.ErrFragmentLimit, metrics.FragmentLimit},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return metrics.BadFrame
}
