package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/internal/goroutines"
	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/internal/protocol"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor"
	"golang.org/x/time/rate"
)

// DefaultQueueSize is how many posts may wait in the outbound queue,
// counting the one in flight.
const DefaultQueueSize = 1000

// DefaultQueueBytes is how many bytes of payload data (and plain text) may
// wait in the outbound queue: enough for sixteen of the largest frames.
const DefaultQueueBytes = 16 << 20

// How the gateway takes a server's RetryAfter answers. One answer holds
// posting for a while and teaches a pace; neither may be absurd, whatever
// the server says, and a pace learned once is forgotten while the server
// accepts posts.
const (
	// MinRetryAfter is the shortest hold: a server that says "retry after
	// 0" is not taken at its word. Refusals in a row double it.
	MinRetryAfter = time.Second
	// MaxRetryAfter is the longest hold one answer can cause.
	MaxRetryAfter = 5 * time.Minute
	// MaxLearnedInterval is the slowest pace (one post per interval) that
	// answers can teach.
	MaxLearnedInterval = 30 * time.Second
	// LearnedPaceHalfLife is how fast a learned pace relaxes toward the
	// connection's own (chatgateway.Limits.PostInterval): the difference halves every
	// half-life without a refusal.
	LearnedPaceHalfLife = time.Minute
)

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
	Dialer chatgateway.Dialer
	// Router receives *protocol.Inbound and *protocol.ChatInbound.
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
	// QueueSize bounds the outbound queue by count, QueueBytes by the bytes
	// of payload data and text it holds. Default to DefaultQueueSize and
	// DefaultQueueBytes.
	QueueSize  int
	QueueBytes int
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
	// string on servers that name them (chatgateway.Identity.Account: IRC, Matrix);
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
	// OnState, if set, is called on the gateway actor with each change of
	// the connection's state. It must not block.
	OnState func(protocol.StateEvent)
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
	slots    chan struct{}                 // one per queued or in-flight post
	bytes    atomic.Int64                  // queue bytes held by queued and in-flight posts
	freed    atomic.Pointer[chan struct{}] // closed and replaced whenever queue room is given back
	io       goroutines.Group
	life     context.Context
	cancel   context.CancelFunc
	stopped  chan struct{}
	state    atomic.Pointer[State]
	changed  atomic.Pointer[chan struct{}] // closed and replaced on every state change
	limits   atomic.Pointer[chatgateway.Limits]

	mu     sync.Mutex // orders the last Outbound and dial result before the PoisonPill
	closed bool

	// Owned by the actor.
	self     *actor.PID // g.pid as the actor sees it: g.pid is set after Started may run
	conn     chatgateway.Conn
	gen      int // bumped per dial; results from older generations are stale
	writer   chan string
	connStop context.CancelFunc
	out      outbox
	in       inbound
	inflight bool // a post is with the writer
	// limiter paces posts to the server's rate; nil while none is known.
	limiter *rate.Limiter
	granted bool             // a limiter token is reserved for the next post
	hold    supervisor.Timer // posting waits for it: the rate, or a retry-after
	tracker *supervisor.Tracker
	retry   supervisor.Timer
	// throttles counts RetryAfter answers in a row; learned is the pace
	// they taught, as of learnedAt (zero: none).
	throttles int
	learned   time.Duration
	learnedAt time.Time
	base      time.Duration // the connection's own PostInterval
	drains    []*protocol.Drain
	// unreported counts outbound posts dropped since a Drain last
	// reported them.
	unreported map[string]int
	ups        int
	logDrops   rate.Sometimes
}

// New spawns the gateway actor, which starts dialing at once.
func New(cfg Config) *Gateway {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = DefaultQueueBytes
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
		reassembly: cfg.Reassembly, skew: cfg.MaxClockSkew}
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
	g.out.skew = g.in.skew
	g.life, g.cancel = context.WithCancel(context.Background())
	g.state.Store(&State{Since: cfg.Clock.Now()})
	changed, freed := make(chan struct{}), make(chan struct{})
	g.changed.Store(&changed)
	g.freed.Store(&freed)
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
func (g *Gateway) Limits() chatgateway.Limits {
	if l := g.limits.Load(); l != nil {
		return *l
	}
	return chatgateway.Limits{}
}

// Enqueue queues out for posting. When the queue is full, by count or by
// bytes, it waits for room until ctx ends, or returns ErrQueueFull at once
// if wait is false. An item larger than the whole byte bound is
// ErrQueueFull at once.
func (g *Gateway) Enqueue(ctx context.Context, out protocol.Outbound, wait bool) error {
	n := int64(size(&out))
	if n > int64(g.cfg.QueueBytes) {
		return fmt.Errorf("%w: %d bytes, the queue holds %d", ErrQueueFull, n, g.cfg.QueueBytes)
	}
	for {
		changed := *g.changed.Load()
		if s := g.State(); s.Permanent {
			return fmt.Errorf("%w: %w", ErrStopped, s.Err)
		}
		// A slot first, then bytes: a slot is handed to one waiter at a
		// time, and bytes are given back as posts go out, so whoever holds
		// a slot gets its bytes in turn.
		select {
		case g.slots <- struct{}{}:
		default:
			if !wait {
				return ErrQueueFull
			}
			select {
			case g.slots <- struct{}{}:
			case <-ctx.Done():
				return fmt.Errorf("chatgateway: waiting for queue room: %w", ctx.Err())
			case <-changed: // a permanent failure must not leave senders waiting
				continue
			}
		}
		for {
			freed := *g.freed.Load()
			if g.reserve(n) {
				return g.send(&out, n)
			}
			if !wait {
				<-g.slots
				return ErrQueueFull
			}
			select {
			case <-freed:
				continue
			case <-ctx.Done():
				<-g.slots
				return fmt.Errorf("chatgateway: waiting for queue room: %w", ctx.Err())
			case <-changed:
				<-g.slots
			}
			break
		}
	}
}

// reserve takes n queue bytes if the bound allows.
func (g *Gateway) reserve(n int64) bool {
	for {
		cur := g.bytes.Load()
		if cur+n > int64(g.cfg.QueueBytes) {
			return false
		}
		if g.bytes.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

func (g *Gateway) unreserve(n int64) {
	g.bytes.Add(-n)
	next := make(chan struct{})
	close(*g.freed.Swap(&next))
}

// send delivers msg to the gateway actor unless it is stopping. An
// Outbound holds a slot and bytes, given back then; a Drain holds none
// (bytes < 0).
func (g *Gateway) send(msg protocol.Message, bytes int64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		if bytes >= 0 {
			<-g.slots
			g.unreserve(bytes)
		}
		return ErrStopped
	}
	g.cfg.System.Root.Send(g.pid, msg)
	return nil
}

// Drain waits until everything queued has been posted or dropped, or ctx
// ends, or the gateway has given up for good. If posts were dropped (too
// long for the server, refused by it) since a Drain last said so, it
// returns a *DroppedError saying how many and why.
func (g *Gateway) Drain(ctx context.Context) error {
	d := &protocol.Drain{Done: make(chan struct{})}
	if err := g.send(d, -1); err != nil {
		return err
	}
	select {
	case <-d.Done:
		if s := g.State(); s.Permanent && g.Queued() > 0 {
			return fmt.Errorf("%w: %w", ErrStopped, s.Err)
		}
		if len(d.Dropped) > 0 {
			return &DroppedError{Reasons: d.Dropped}
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
		conn chatgateway.Conn
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
		// Under g.mu: after a restart, the old connection's goroutines may
		// be telling the actor something right now.
		g.mu.Lock()
		g.self = c.Self()
		g.mu.Unlock()
		g.dial()
	case *actor.Restarting:
		g.teardown()
	case *protocol.Outbound:
		g.out.push(*m)
		g.pump()
	case *protocol.Drain:
		g.drains = append(g.drains, m)
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

func (g *Gateway) up(conn chatgateway.Conn) {
	g.conn = conn
	lim, id := conn.Limits(), conn.Identity()
	g.out.room = id.Room
	g.limits.Store(&lim)
	g.base, g.learned, g.throttles = lim.PostInterval, 0, 0
	g.limiter = nil
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
		g.cfg.OnState(&protocol.ConnectionUp{UserID: id.UserID, UserName: id.UserName, MaxMessageLen: lim.MaxMessageLen})
	}
	g.pump()
}

// down handles a failed dial, read or post: it closes the connection, puts
// the post in flight back at the head of the queue, and dials again later.
func (g *Gateway) down(err error) {
	g.teardown()
	g.gen++ // results of the dead connection are stale from now on
	delay, giveUp := g.tracker.Failed()
	if errors.Is(err, chatgateway.ErrPermanent) || giveUp {
		g.setState(State{Err: err, Permanent: true})
		g.log.Error().Err(err).Bool("gave_up", giveUp).Int("queued", g.out.len()).Msg("connection failed for good; not reconnecting")
		if g.cfg.OnState != nil {
			g.cfg.OnState(&protocol.ConnectionDown{Err: err, Permanent: true})
		}
		g.checkDrained()
		return
	}
	g.setState(State{Err: err})
	g.log.Warn().Err(err).Dur("retry_in", delay).Int("attempt", g.tracker.Attempt()).Int("queued", g.out.len()).Msg("disconnected")
	if g.cfg.OnState != nil {
		g.cfg.OnState(&protocol.ConnectionDown{Err: err, RetryIn: delay})
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
	var retry *chatgateway.RetryAfterError
	switch {
	case err == nil:
		g.counters.Posted.Add(1)
		g.throttles = 0
		g.release(g.out.posted(g.cfg.Clock.Now()))
	case errors.Is(err, chatgateway.ErrMessageTooLong), errors.Is(err, chatgateway.ErrRejected):
		reason := metrics.Rejected
		if errors.Is(err, chatgateway.ErrMessageTooLong) {
			reason = metrics.MessageTooLong
		}
		size := len(g.out.pending.text())
		items, bytes := g.out.drop()
		g.drop(dropped{items, bytes, size, reason})
	case errors.As(err, &retry):
		// Still pending: posted again (made again if it has aged) once the
		// server allows.
		g.counters.Throttled.Add(1)
		g.throttles++
		hold := min(max(retry.After, MinRetryAfter<<min(g.throttles-1, 16)), MaxRetryAfter)
		g.learnRate(retry.After)
		g.holdFor(hold)
		g.logDrops.Do(func() {
			g.log.Warn().Err(err).Dur("retry_in", hold).Msg("server is throttling posts")
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
		p, d := g.out.next(g.MaxMessageLen(), g.cfg.Clock.Now())
		if p == nil {
			g.drop(d)
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
	g.relax(now)
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

// learnRate slows posting to one per after (at most MaxLearnedInterval),
// if that is slower than the pace now: a server that had to say "wait"
// will say it again at the same pace.
func (g *Gateway) learnRate(after time.Duration) {
	now := g.cfg.Clock.Now()
	g.relax(now)
	interval := min(after, MaxLearnedInterval)
	if g.limiter != nil && rate.Every(interval) >= g.limiter.Limit() {
		return
	}
	g.learned, g.learnedAt = interval, now
	g.limiter = rate.NewLimiter(rate.Every(interval), 1)
	g.granted = false
}

// relax moves a learned pace toward the connection's own: the difference
// halves every LearnedPaceHalfLife since it was learned, and is forgotten
// once it is small.
func (g *Gateway) relax(now time.Time) {
	if g.learned <= g.base {
		return
	}
	halvings := float64(now.Sub(g.learnedAt)) / float64(LearnedPaceHalfLife)
	excess := time.Duration(float64(g.learned-g.base) * math.Exp2(-halvings))
	if excess < g.base/10 || excess < 10*time.Millisecond {
		g.learned = 0
		g.limiter = nil
		if g.base > 0 {
			g.limiter = rate.NewLimiter(rate.Every(g.base), 1)
		}
		return
	}
	g.limiter.SetLimitAt(now, rate.Every(g.base+excess))
}

// release gives back the queue room of items posted or dropped.
func (g *Gateway) release(items, bytes int) {
	for range items {
		<-g.slots
	}
	if items > 0 || bytes > 0 {
		g.unreserve(int64(bytes))
	}
}

// drop gives up on what d describes: released, counted, logged, and
// reported by the next Drain.
func (g *Gateway) drop(d dropped) {
	g.release(d.items, d.bytes)
	for range d.items {
		g.counters.Drop(d.reason)
	}
	if g.unreported == nil {
		g.unreported = make(map[string]int)
	}
	g.unreported[d.reason.String()] += d.items
	g.logDrops.Do(func() {
		g.log.Warn().Str("reason", d.reason.String()).Int("len", d.len).Int("max", g.MaxMessageLen()).Msg("dropped outbound post")
	})
}

func (g *Gateway) checkDrained() {
	if g.out.empty() || g.State().Permanent {
		for i, d := range g.drains {
			if i == 0 { // each drop is reported once
				d.Dropped, g.unreported = g.unreported, nil
			}
			close(d.Done)
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
	g.release(n, g.out.queuedBytes())
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
func (g *Gateway) read(gen int, conn chatgateway.Conn) {
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
			root.Send(g.cfg.Router, &protocol.Inbound{Frame: frame, Chat: msg})
		case errors.Is(err, messages.ErrNotFrame):
			root.Send(g.cfg.Router, &protocol.ChatInbound{Chat: msg})
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
func (g *Gateway) write(ctx context.Context, gen int, conn chatgateway.Conn, texts <-chan string) {
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
