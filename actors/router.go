package actors

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/internal/protocol"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor"
	"golang.org/x/time/rate"
)

// DefaultMaxPending is how many messages of one type may wait for its
// handler before more are dropped (counted as handler_queue_full).
const DefaultMaxPending = 10_000

// DefaultMaxPendingBytes is how many bytes of messages (a typed message's
// data, a chat message's text) may wait for one handler before more are
// dropped (counted as handler_queue_full): with DefaultMaxPending alone, a
// slow chat handler would let strangers queue gigabytes.
const DefaultMaxPendingBytes = 16 << 20

// chatType names the chat handler in logs; it cannot clash with a payload
// type because it is never looked up in the type map.
const (
	chatType  = "(chat)"
	stateType = "(state)"
)

// Config is what a Router needs. System and Strategy are required.
type Config struct {
	System *actor.ActorSystem
	// Strategy supervises the handler actors, RouterStrategy the router
	// actor: they fail for different reasons (user code, a bug here), so
	// each has a policy and a log of its own. Both default to protoactor's
	// default strategy; socketscience passes a Strategy for each.
	Strategy       actor.SupervisorStrategy
	RouterStrategy actor.SupervisorStrategy
	// Dispatcher runs the mailboxes. Defaults to protoactor's.
	Dispatcher actor.Dispatcher
	// Logger defaults to zerolog.Nop().
	Logger   *zerolog.Logger
	Counters *metrics.Counters
	// Context is passed to handlers; Stop cancels it when its own ctx ends
	// before the handlers have drained.
	Context context.Context
	// MaxPending bounds each type's mailbox. Defaults to DefaultMaxPending.
	MaxPending int
	// MaxPendingBytes bounds the bytes in each handler's mailbox: a typed
	// message's data, a chat message's text. Defaults to
	// DefaultMaxPendingBytes.
	MaxPendingBytes int
	// Self and SelfIncarnation are this node's id and incarnation. Frames
	// whose envelope carries both are skipped unless DeliverToSelf is set;
	// another process that uses the same node id (a copy of the config) is
	// another incarnation, and is heard.
	Self            string
	SelfIncarnation uint64
	DeliverToSelf   bool
	// Chat, if set, receives every chat message that is not a frame.
	Chat func(context.Context, messages.ChatMessage)
	// State, if set, receives each event passed to NotifyState, in order.
	State func(context.Context, protocol.StateEvent)
	// Backlog, if set, is released as the router routes what the
	// gateways' readers acquired it for, and closed when the router stops.
	Backlog *protocol.Backlog
	// Rooms is how many rooms feed the router. With exactly one, a frame
	// without an envelope (SmokeDetector's) cannot come again through
	// another room, so its content is not remembered to drop such copies.
	// Zero means unknown: remembered.
	Rooms int
	// Clock times the reorder wait (DefaultReorderWait unless
	// ReorderWait is set). Defaults to supervisor.SystemClock{}.
	Clock       supervisor.Clock
	ReorderWait time.Duration
	// Observe, if set, is called on a handler's actor after each payload
	// callback returns or panics (not the chat and state handlers'). It
	// runs before the next callback, so it must be quick and not block.
	Observe func(CallbackEvent)
}

// Outcome is how a callback ended.
type Outcome uint8

const (
	OutcomeOK    Outcome = iota // returned nil
	OutcomeError                // returned an error
	OutcomePanic                // panicked
)

// CallbackEvent is one payload callback's run, for Config.Observe.
type CallbackEvent struct {
	Type    string
	Outcome Outcome
	// Started is when the callback was called, Duration how long it ran.
	Started  time.Time
	Duration time.Duration
	// Sent is the message's Sent: its envelope's time, or zero.
	Sent time.Time
}

// Router owns the type-to-handler map and the router actor that reads it.
type Router struct {
	cfg      Config
	log      zerolog.Logger
	counters *metrics.Counters
	ctx      context.Context
	cancel   context.CancelFunc
	props    []actor.PropsOption // the handler actors'

	mu      sync.Mutex
	types   atomic.Pointer[map[string]*handler] // copy-on-write under mu
	live    map[*handler]struct{}               // every handler not yet stopped
	nextID  uint64
	stopped bool
	began   bool // Stop has begun; stopping is closed
	// poisoned: Stop has poisoned every handler, which may stop any time
	// from then on, so Abort must stop them while the calling Close waits.
	poisoned bool
	aborted  bool
	// routerStopping: the router actor has seen *actor.Stopping; from then
	// on a send to it could be a dead letter.
	routerStopping bool

	stopping  chan struct{}
	abortOnce sync.Once

	pid        *actor.PID
	routerDone chan struct{}
	chat       *handler
	state      *handler
	dedup      *dedup // owned by the router actor
	// gathered are the handlers with messages gathered for them (in
	// handler.out) since the router actor last handed them on; owned by the
	// router actor.
	gathered []*handler
	// routed is how many inbound messages the router actor has taken
	// since it last released them to cfg.Backlog.
	routed   int
	logDrops rate.Sometimes
}

// NewRouter spawns the router actor (and the chat handler, if any).
func NewRouter(cfg Config) *Router {
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.MaxPendingBytes <= 0 {
		cfg.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if cfg.Counters == nil {
		cfg.Counters = new(metrics.Counters)
	}
	if cfg.Context == nil {
		cfg.Context = context.Background()
	}
	r := &Router{
		cfg:        cfg,
		log:        zerolog.Nop(),
		counters:   cfg.Counters,
		live:       make(map[*handler]struct{}),
		routerDone: make(chan struct{}),
		stopping:   make(chan struct{}),
		logDrops:   rate.Sometimes{First: 5, Interval: 10 * time.Second},
	}
	if cfg.Logger != nil {
		r.log = *cfg.Logger
	}
	r.dedup = newDedup(DefaultDedupNodes, DefaultDedupMessages, DefaultDedupBodies, r.reorderConfig())
	r.dedup.oneRoom = cfg.Rooms == 1
	r.ctx, r.cancel = context.WithCancel(cfg.Context)
	routerProps := []actor.PropsOption{actor.WithMailbox(routerMailbox(flushGathered{}))}
	r.props = append(r.props, actor.WithMailbox(handlerMailbox))
	if cfg.Strategy != nil {
		r.props = append(r.props, actor.WithGuardian(cfg.Strategy))
	}
	if cfg.RouterStrategy != nil {
		routerProps = append(routerProps, actor.WithGuardian(cfg.RouterStrategy))
	}
	if cfg.Dispatcher != nil {
		r.props = append(r.props, actor.WithDispatcher(cfg.Dispatcher))
		routerProps = append(routerProps, actor.WithDispatcher(cfg.Dispatcher))
	}
	r.types.Store(&map[string]*handler{})
	if cfg.Chat != nil {
		r.chat = r.spawn(chatType)
		r.chat.add(callback{event: func(ctx context.Context, m any) { cfg.Chat(ctx, m.(messages.ChatMessage)) }})
	}
	if cfg.State != nil {
		r.state = r.spawn(stateType)
		r.state.add(callback{event: func(ctx context.Context, m any) { cfg.State(ctx, m.(protocol.StateEvent)) }})
	}
	r.pid = cfg.System.Root.SpawnPrefix(actor.PropsFromProducer(func() actor.Actor { return routerActor{r} }, routerProps...), "router")
	return r
}

// PID is the router actor, to which the gateway sends Inbound and ChatInbound.
func (r *Router) PID() *actor.PID { return r.pid }

// Register adds fn as a handler for typ, after any already registered, and
// returns a function that removes it. The first handler for a type spawns
// that type's actor; removing the last one stops it.
func (r *Router) Register(typ string, fn messages.HandlerFunc) (unregister func(), err error) {
	switch {
	case fn == nil:
		return nil, ErrNilHandler
	case typ == "":
		return nil, messages.ErrEmptyType
	case typ == messages.EnvelopeKey:
		return nil, messages.ErrReservedKey
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return nil, ErrStopped
	}
	types := *r.types.Load()
	h := types[typ]
	if h == nil {
		h = r.spawn(typ)
		next := make(map[string]*handler, len(types)+1)
		for k, v := range types {
			next[k] = v
		}
		next[typ] = h
		r.types.Store(&next)
	}
	r.nextID++
	id := r.nextID
	h.add(callback{id: id, fn: fn})
	var once sync.Once
	return func() { once.Do(func() { r.unregister(h, id) }) }, nil
}

func (r *Router) unregister(h *handler, id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h.remove(id) > 0 || r.stopped {
		return
	}
	r.unmap(h)
	// Poison, not Stop: messages already queued are handled (by nobody) in
	// order, and the pending count stays right. The router actor sends the
	// poison, after any message it is routing with the old type map; poisoning
	// h from here could let such a message reach h after it stopped.
	r.cfg.System.Root.Send(r.pid, &poisonHandler{h})
}

// poisonHandler asks the router actor to poison a handler it no longer routes to.
type poisonHandler struct{ h *handler }

// flushGathered is what the router's mailbox sends the router actor once it
// has taken every queued message: time to hand on what it gathered.
type flushGathered struct{}

// Forget stops routing to the handler actor pid, which its supervisor has
// stopped for good; that type's messages count as unhandled from now on.
func (r *Router) Forget(pid *actor.PID) (typ string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for t, h := range *r.types.Load() {
		if h.pid.Equal(pid) {
			r.unmap(h)
			return t, true
		}
	}
	return "", false
}

// unmap removes h from the type map; the caller holds r.mu.
func (r *Router) unmap(h *handler) {
	types := *r.types.Load()
	next := make(map[string]*handler, len(types))
	for k, v := range types {
		if v != h {
			next[k] = v
		}
	}
	r.types.Store(&next)
}

// spawn starts a handler actor; the caller holds r.mu (or is NewRouter).
func (r *Router) spawn(typ string) *handler {
	h := newHandler(r, typ)
	h.pid = r.cfg.System.Root.SpawnPrefix(actor.PropsFromProducer(func() actor.Actor { return h }, r.props...), "type:"+typ+"#")
	r.live[h] = struct{}{}
	return h
}

func (r *Router) retire(h *handler) {
	r.mu.Lock()
	delete(r.live, h)
	r.mu.Unlock()
}

// NotifyState hands a connection state change to the State handler, on its
// own actor, so the gateway never runs user code. Changes are not dropped:
// there are few, and each matters.
func (r *Router) NotifyState(change protocol.StateEvent) {
	if r.state == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	r.state.pending.Add(1)
	r.cfg.System.Root.Send(r.state.pid, change)
}

// Types returns the registered types.
func (r *Router) Types() []string {
	types := *r.types.Load()
	out := make([]string, 0, len(types))
	for t := range types {
		out = append(out, t)
	}
	return out
}

// Stop drains the router and then every handler: what is already in their
// mailboxes is handled. If ctx ends first, it aborts (see Abort) and stops
// the actors without draining; what was left in a handler's mailbox is
// counted as abandoned_inbound. It returns ctx's error then, once every
// actor has stopped: a callback that ignores its context keeps Stop
// waiting, so a caller that must not wait for that (Node.Close) runs Stop
// on a goroutine of its own and waits with WaitStopped.
func (r *Router) Stop(ctx context.Context) error {
	r.mu.Lock()
	r.stopped = true
	if !r.began {
		r.began = true
		close(r.stopping)
	}
	r.mu.Unlock()

	r.tellRouter(r.cfg.System.Root.Poison)
	err := waitCtx(ctx, r.routerDone)
	if err != nil {
		r.Abort()
		r.tellRouter(r.cfg.System.Root.Stop)
		// The router actor runs no user code, so this wait is short; the
		// handlers are stopped after it so that it routes nothing to a
		// stopped handler (a dead letter).
		<-r.routerDone
	}
	r.mu.Lock()
	live := make([]*handler, 0, len(r.live))
	for h := range r.live {
		live = append(live, h)
	}
	aborted := r.aborted
	if !aborted {
		r.poisoned = true
		for _, h := range live {
			h.poison(r.cfg.System.Root.Poison)
		}
	}
	r.mu.Unlock()
	if aborted {
		// Abort came before the handlers were poisoned, so they cannot stop
		// on their own: stop them (Stop, unlike a PoisonPill, also reaches
		// an actor waiting to be restarted).
		err = cmp.Or(err, ctx.Err(), context.Canceled)
		for _, h := range live {
			h.tell(r.cfg.System.Root.Stop)
		}
	} else {
		for _, h := range live {
			if err = waitCtx(ctx, h.stopped); err != nil {
				r.Abort()
				break
			}
		}
	}
	for _, h := range live {
		<-h.stopped
	}
	r.cancel()
	return err
}

// tellRouter calls send(r.pid) (a Poison or a Stop) unless the router actor
// is stopping.
func (r *Router) tellRouter(send func(*actor.PID)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.routerStopping {
		send(r.pid)
	}
}

// Abort halts every handler, so that none of them starts a callback again
// (what is left in their mailboxes is dropped, counted as
// abandoned_inbound), stops the handlers if Stop has poisoned them, and then
// cancels the handlers' context. It waits for nothing; Stop does that. It is
// safe to call at any time, more than once; every call returns once the
// first one has done this.
func (r *Router) Abort() {
	r.abortOnce.Do(func() {
		r.mu.Lock()
		r.stopped = true // no handler is spawned after this
		r.aborted = true
		for h := range r.live {
			h.halted.Store(true)
			if r.poisoned {
				// Before cancelling, and before the Close calling Abort
				// returns: a handler that then returns from its callback
				// could reach its PoisonPill and stop first, and the Stop
				// would be a dead letter.
				h.tell(r.cfg.System.Root.Stop)
			}
		}
		r.mu.Unlock()
		r.cancel()
	})
}

func (r *Router) liveHandlers() []*handler {
	r.mu.Lock()
	defer r.mu.Unlock()
	live := make([]*handler, 0, len(r.live))
	for h := range r.live {
		live = append(live, h)
	}
	return live
}

// Exemption is what a wait for the router to stop must not wait for, as
// the waiter may itself be running a callback. Make it with Exempt.
type Exemption struct {
	caller *handler   // the handler whose callback waits, when known
	busy   []*handler // handlers that might be the caller
}

// Caller reports whether the exemption names the handler that is waiting.
func (e Exemption) Caller() bool { return e.caller != nil }

func (e Exemption) exempts(h *handler) bool { return h == e.caller || slices.Contains(e.busy, h) }

// Exempt says which handlers a wait with ctx must not wait for: the handler
// whose callback was given ctx (or a context derived from it), which it
// halts as well, so that none of its callbacks starts after this one; and,
// when ctx can never end (context.Background()) and the caller is running a
// callback (InCallback), every handler running a callback now, since any of
// them might be the caller and waiting for it would never end. Without
// goroutine ids that is the best that can be known.
func (r *Router) Exempt(ctx context.Context) Exemption {
	var e Exemption
	if h, ok := ctx.Value(callerKey{}).(*handler); ok && h.r == r {
		e.caller = h
		h.halted.Store(true)
	}
	if ctx.Done() == nil && InCallback() {
		for _, h := range r.liveHandlers() {
			if h != e.caller && h.busy.Load() {
				e.busy = append(e.busy, h)
			}
		}
	}
	return e
}

// WaitStopped waits until Stop has begun and stopped the router actor and
// every handler that e does not exempt, or ctx ends. It then halts the
// exempt handlers that have not stopped: the waiter returns, and none of
// their callbacks may start after that.
func (r *Router) WaitStopped(ctx context.Context, e Exemption) error {
	if err := waitCtx(ctx, r.stopping); err != nil {
		return err
	}
	if err := waitCtx(ctx, r.routerDone); err != nil {
		return err
	}
	for _, h := range r.liveHandlers() {
		if e.exempts(h) {
			continue
		}
		if err := waitCtx(ctx, h.stopped); err != nil {
			return err
		}
	}
	for _, h := range e.busy {
		h.halted.Store(true)
	}
	return nil
}

// Stuck names, sorted, the types of the handlers running a callback now,
// apart from e's caller. Called after Abort or WaitStopped, it names those
// whose actors will stop once that callback returns.
func (r *Router) Stuck(e Exemption) []string {
	var stuck []string
	for _, h := range r.liveHandlers() {
		if h != e.caller && h.busy.Load() {
			stuck = append(stuck, h.typ)
		}
	}
	slices.Sort(stuck)
	return stuck
}

func waitCtx(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// routerActor splits frames by type and hands each type to its handler.
// It gathers each handler's messages and hands them on as one batch per
// handler when its mailbox runs dry (flushGathered), so that a burst of
// frames wakes each handler once, not once a frame. Anything else it sends
// a handler waits until what was gathered for it has been handed on, which
// keeps each handler's messages in order.
type routerActor struct{ r *Router }

func (a routerActor) Receive(c actor.Context) {
	r := a.r
	switch m := c.Message().(type) {
	case *protocol.Inbound:
		r.routed++
		r.route(m)
	case flushGathered:
		r.handOn(c)
	case *protocol.ChatInbound:
		r.routed++
		if r.chat != nil && r.admit(r.chat, msgSize(m)) {
			c.Send(r.chat.pid, m)
		}
	case *poisonHandler:
		r.handOn(c)
		m.h.poison(c.Poison)
	case *reorderTimeout:
		r.deliver(r.dedup.expire(m.run, m.gen))
	case *actor.Stopping:
		// What the reorder buffer holds goes now, gaps given up on; the
		// handlers are poisoned only once the router has stopped.
		r.deliver(r.dedup.flushAll())
		r.handOn(c)
		r.cfg.Backlog.Close()
		r.mu.Lock()
		r.routerStopping = true
		r.mu.Unlock()
	case *actor.Stopped:
		close(r.routerDone)
	}
}

func (r *Router) route(in *protocol.Inbound) {
	sender := messages.Sender{UserID: in.Chat.UserID, UserName: in.Chat.UserName}
	var sent time.Time
	if env := in.Frame.Envelope; env != nil {
		sent = time.UnixMilli(env.Time)
		if env.Node == r.cfg.Self && env.Incarnation == r.cfg.SelfIncarnation && !r.cfg.DeliverToSelf {
			r.counters.OwnFrames.Add(1)
			return
		}
		sender.NodeID = env.Node
	}
	out, dups := r.dedup.admit(in, payload{sender: sender, chatID: in.Chat.ID, sent: sent})
	r.counters.Duplicates.Add(int64(dups))
	r.deliver(out)
}

// deliver gathers each payload's types for their handlers, in order, to be
// handed on by handOn.
func (r *Router) deliver(ps []payload) {
	types := *r.types.Load()
	for _, p := range ps {
		for _, rt := range p.types {
			h := types[rt.Type]
			if h == nil {
				r.counters.Unhandled.Add(1)
				continue
			}
			if !r.admit(h, int64(len(rt.Data))) {
				continue
			}
			if h.out == nil {
				h.out = newBatch()
				r.gathered = append(r.gathered, h)
			}
			h.out.msgs = append(h.out.msgs, messages.Message{Type: rt.Type, Data: rt.Data, Sender: p.sender, ChatMessageID: p.chatID, Sent: p.sent})
		}
	}
}

// handOn sends each handler the messages gathered for it, as one batch,
// and lets the readers hand the router as many messages as it has routed.
func (r *Router) handOn(c actor.Context) {
	r.cfg.Backlog.Release(r.routed)
	r.routed = 0
	for i, h := range r.gathered {
		c.Send(h.pid, h.out)
		h.out = nil
		r.gathered[i] = nil
	}
	r.gathered = r.gathered[:0]
}

// admit counts a message of size bytes into h's mailbox, or drops it when
// the mailbox is full by count or by bytes: protoactor's bounded mailboxes
// block the sender, which would stall every other type, and bound the count
// only. A message larger than MaxPendingBytes is always dropped. Only the
// router actor admits, so the check and the additions do not race.
func (r *Router) admit(h *handler, size int64) bool {
	if h.pending.Load() >= int64(r.cfg.MaxPending) || h.pendingBytes.Load()+size > int64(r.cfg.MaxPendingBytes) {
		r.counters.Drop(metrics.HandlerQueueFull)
		r.logDrops.Do(func() {
			r.log.Warn().Str("type", h.typ).Int64("len", size).Int64("pending", h.pending.Load()).Int64("pending_bytes", h.pendingBytes.Load()).
				Int("max", r.cfg.MaxPending).Int("max_bytes", r.cfg.MaxPendingBytes).Str("reason", metrics.HandlerQueueFull.String()).Msg("dropped message: handler is behind")
		})
		return false
	}
	h.pending.Add(1)
	h.pendingBytes.Add(size)
	return true
}

// msgSize is what a message counts against MaxPendingBytes.
func msgSize(m any) int64 {
	switch m := m.(type) {
	case *messages.Message:
		return int64(len(m.Data))
	case *protocol.ChatInbound:
		return int64(len(m.Chat.Text))
	}
	return 0
}
