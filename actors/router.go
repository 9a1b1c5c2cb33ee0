package actors

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/messages"
	"golang.org/x/time/rate"
)

// DefaultMaxPending is how many messages of one type may wait for its
// handler before more are dropped (counted as handler_queue_full).
const DefaultMaxPending = 10_000

// chatType names the chat handler in logs; it cannot clash with a payload
// type because it is never looked up in the type map.
const (
	chatType  = "(chat)"
	stateType = "(state)"
)

// Config is what a Router needs. System and Strategy are required.
type Config struct {
	System *actor.ActorSystem
	// Strategy supervises the handler actors. Defaults to protoactor's
	// default strategy; socketscience passes a supervisor.Strategy.
	Strategy actor.SupervisorStrategy
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
	// Self and SelfIncarnation are this node's id and incarnation. Frames
	// whose envelope carries both are skipped unless DeliverToSelf is set;
	// another process that uses the same node id (a copy of the config) is
	// another incarnation, and is heard.
	Self            string
	SelfIncarnation uint64
	DeliverToSelf   bool
	// Chat, if set, receives every chat message that is not a frame.
	Chat func(context.Context, messages.ChatMessage)
	// State, if set, receives each *messages.ConnectionUp and
	// *messages.ConnectionDown passed to NotifyState, in order.
	State func(context.Context, any)
}

// Router owns the type-to-handler map and the router actor that reads it.
type Router struct {
	cfg      Config
	log      zerolog.Logger
	counters *metrics.Counters
	ctx      context.Context
	cancel   context.CancelFunc
	props    []actor.PropsOption

	mu      sync.Mutex
	types   atomic.Pointer[map[string]*handler] // copy-on-write under mu
	live    map[*handler]struct{}               // every handler not yet stopped
	nextID  uint64
	stopped bool

	pid        *actor.PID
	routerDone chan struct{}
	chat       *handler
	state      *handler
	dedup      *dedup // owned by the router actor
	logDrops   rate.Sometimes
}

// NewRouter spawns the router actor (and the chat handler, if any).
func NewRouter(cfg Config) *Router {
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
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
		dedup:      newDedup(DefaultDedupNodes, DefaultDedupMessages),
		logDrops:   rate.Sometimes{First: 5, Interval: 10 * time.Second},
	}
	if cfg.Logger != nil {
		r.log = *cfg.Logger
	}
	r.ctx, r.cancel = context.WithCancel(cfg.Context)
	if cfg.Strategy != nil {
		r.props = append(r.props, actor.WithGuardian(cfg.Strategy))
	}
	if cfg.Dispatcher != nil {
		r.props = append(r.props, actor.WithDispatcher(cfg.Dispatcher))
	}
	r.types.Store(&map[string]*handler{})
	if cfg.Chat != nil {
		r.chat = r.spawn(chatType)
		r.chat.add(callback{event: func(ctx context.Context, m any) { cfg.Chat(ctx, m.(messages.ChatMessage)) }})
	}
	if cfg.State != nil {
		r.state = r.spawn(stateType)
		r.state.add(callback{event: cfg.State})
	}
	r.pid = cfg.System.Root.SpawnPrefix(actor.PropsFromProducer(func() actor.Actor { return routerActor{r} }, r.props...), "router")
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
func (r *Router) NotifyState(change any) {
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
// mailboxes is handled. If ctx ends first, it cancels the handlers' context
// and stops the actors without draining, then waits for them to stop; a
// handler that ignores its context keeps Stop waiting.
func (r *Router) Stop(ctx context.Context) error {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()

	// Poisoning or stopping an actor that has already stopped (as on a second
	// Stop) makes a dead letter.
	unlessDone(r.routerDone, r.cfg.System.Root.Poison, r.pid)
	err := waitCtx(ctx, r.routerDone)
	r.mu.Lock()
	live := make([]*handler, 0, len(r.live))
	for h := range r.live {
		live = append(live, h)
	}
	r.mu.Unlock()
	if err == nil {
		for _, h := range live {
			h.poison(r.cfg.System.Root.Poison)
		}
		for _, h := range live {
			if err = waitCtx(ctx, h.stopped); err != nil {
				break
			}
		}
	}
	if err != nil {
		// Stop the actors before cancelling their context: a handler that
		// returns when it is cancelled could otherwise reach its PoisonPill,
		// and stop, before the Stop is sent.
		unlessDone(r.routerDone, r.cfg.System.Root.Stop, r.pid)
		for _, h := range live {
			unlessDone(h.stopped, r.cfg.System.Root.Stop, h.pid)
		}
		r.cancel()
		<-r.routerDone
		for _, h := range live {
			<-h.stopped
		}
	}
	r.cancel()
	return err
}

// unlessDone calls send(pid) unless done is closed.
func unlessDone(done <-chan struct{}, send func(*actor.PID), pid *actor.PID) {
	select {
	case <-done:
	default:
		send(pid)
	}
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
type routerActor struct{ r *Router }

func (a routerActor) Receive(c actor.Context) {
	r := a.r
	switch m := c.Message().(type) {
	case *messages.Inbound:
		r.route(c, m)
	case *messages.ChatInbound:
		if r.chat != nil && r.admit(r.chat) {
			c.Send(r.chat.pid, m)
		}
	case *poisonHandler:
		m.h.poison(c.Poison)
	case *actor.Stopped:
		close(r.routerDone)
	}
}

func (r *Router) route(c actor.Context, in *messages.Inbound) {
	sender := messages.Sender{UserID: in.Chat.UserID, UserName: in.Chat.UserName}
	if env := in.Frame.Envelope; env != nil {
		if env.Node == r.cfg.Self && env.Incarnation == r.cfg.SelfIncarnation && !r.cfg.DeliverToSelf {
			r.counters.OwnFrames.Add(1)
			return
		}
		sender.NodeID = env.Node
	}
	if r.dedup.seen(in.Chat.ID, in.Frame.Envelope) {
		r.counters.Duplicates.Add(1)
		return
	}
	types := *r.types.Load()
	for _, rt := range in.Frame.Types {
		h := types[rt.Type]
		if h == nil {
			r.counters.Unhandled.Add(1)
			continue
		}
		if !r.admit(h) {
			continue
		}
		c.Send(h.pid, &messages.Message{Type: rt.Type, Data: rt.Data, Sender: sender, ChatMessageID: in.Chat.ID})
	}
}

// admit counts a message into h's mailbox, or drops it when the mailbox is
// full: protoactor's bounded mailboxes block the sender, which would stall
// every other type.
func (r *Router) admit(h *handler) bool {
	if h.pending.Load() >= int64(r.cfg.MaxPending) {
		r.counters.Drop(metrics.HandlerQueueFull)
		r.logDrops.Do(func() {
			r.log.Warn().Str("type", h.typ).Int("max_pending", r.cfg.MaxPending).Str("reason", metrics.HandlerQueueFull.String()).Msg("dropped message: handler is behind")
		})
		return false
	}
	h.pending.Add(1)
	return true
}
