package gateway

import (
	"context"
	"fmt"
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

// State is the connection's state as of its last change.
type State struct {
	Connected bool
	// Err is why the connection last went down; nil while connected.
	Err error
	// Permanent means the gateway gave up and will not dial again.
	Permanent bool
	Since     time.Time
}

// Gateway is a handle on the gateway actor (this file: what callers use),
// and the actor itself (actor.go, pace.go), whose I/O runs on the pumps
// (pumps.go). Its fields fall in three zones by who may touch them.
type Gateway struct {
	// Set by New, then only read: safe from any goroutine.
	cfg      Config
	log      zerolog.Logger
	counters *metrics.Counters
	pid      *actor.PID
	life     context.Context // ends at Stop: cancels dials and posts
	cancel   context.CancelFunc
	stopped  chan struct{} // closed once the actor has stopped
	// in checks what the readers read; its reassembler locks itself, as
	// Reassembling reads it from callers' goroutines.
	in       inbound
	logDrops rate.Sometimes // locks itself: the actor and the readers log drops

	// Shared with callers, through atomics, channels and mu.
	slots   chan struct{}                 // one per queued or in-flight post
	bytes   atomic.Int64                  // queue bytes held by queued and in-flight posts
	freed   atomic.Pointer[chan struct{}] // closed and replaced whenever queue room is given back
	io      goroutines.Group              // the pumps and dialers, waited for by Stop
	state   atomic.Pointer[State]
	changed atomic.Pointer[chan struct{}] // closed and replaced on every state change
	limits  atomic.Pointer[chatgateway.Limits]
	// ident is the last connection's identity.
	ident atomic.Pointer[chatgateway.Identity]
	// roomLog is log with the last connection's Identity.Room as "room"
	// (docs/logging.md); nil until the first connection. Read through logger.
	roomLog atomic.Pointer[zerolog.Logger]
	mu      sync.Mutex // orders the last Outbound and I/O report before the PoisonPill
	closed  bool       // under mu: Stop has begun
	self    *actor.PID // under mu: g.pid as the actor sees it, as g.pid is set after Started may run

	// Owned by the actor: read and written only in Receive.
	// sess is the current session; I/O reports from any other are stale.
	// nil once the gateway has given up, or while it restarts.
	sess     *session
	out      outbox
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
				g.logger().Warn().Str("reason", r.String()).Int("count", n).Msg("dropped incomplete fragmented payloads")
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

// Freed returns a channel closed when queue room is next given back, or
// the connection's state next changes: a caller that found the queue full
// (Enqueue without waiting) tries again then.
func (g *Gateway) Freed() (freed, changed <-chan struct{}) {
	return *g.freed.Load(), *g.changed.Load()
}

// Queued is how many posts are queued or in flight.
func (g *Gateway) Queued() int { return len(g.slots) }

// QueuedBytes is what the queued and in-flight posts hold of QueueBytes.
func (g *Gateway) QueuedBytes() int64 { return g.bytes.Load() }

// Identity is the last connection's account and room; zero before the
// first connection.
func (g *Gateway) Identity() chatgateway.Identity {
	if id := g.ident.Load(); id != nil {
		return *id
	}
	return chatgateway.Identity{}
}

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

// logger is the node's logger with the room of the last connection, once
// there has been one: every gateway line carries "node" and, from the first
// connection on, "room".
func (g *Gateway) logger() *zerolog.Logger {
	if l := g.roomLog.Load(); l != nil {
		return l
	}
	return &g.log
}
