package actors

import (
	"context"
	"reflect"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/internal/protocol"
	"github.com/socketscience/socketscience/messages"
	"golang.org/x/time/rate"
)

// handler is the actor for one message type. The same value serves every
// restart of the actor, so its callbacks and counts survive a panic.
type handler struct {
	typ       string
	r         *Router
	callbacks atomic.Pointer[[]callback] // copy-on-write under r.mu
	pending   atomic.Int64               // messages sent to the mailbox, not yet handled
	// pendingBytes is their size (see msgSize), bounded by MaxPendingBytes.
	pendingBytes atomic.Int64
	// ctx is what callbacks get: the router's, marked with h so that Close
	// called with it knows which handler is calling.
	ctx context.Context
	// busy is set while a callback runs. halted, once set, makes the actor
	// drop (and count) what is left instead of calling back: for a node
	// that is closing. busy is set before halted is read, and halted before
	// busy is read (Router.Stuck), so one of them sees the other.
	busy     atomic.Bool
	halted   atomic.Bool
	pid      *actor.PID
	stopped  chan struct{}
	stopOnce sync.Once
	poisoned atomic.Bool // a PoisonPill has been sent
	// stopMu orders sends to pid against its stopping: once the actor has
	// seen *actor.Stopping (stopping is set), its PID may be gone and a
	// send would be a dead letter.
	stopMu    sync.Mutex
	stopping  bool
	logErrors rate.Sometimes // a handler that fails on every message must not flood the log
	// out is what the router actor has gathered for this handler and not
	// yet handed on; owned by the router actor.
	out *batch
}

type callback struct {
	id uint64
	fn messages.HandlerFunc
	// event takes what the chat and state handlers get: a
	// messages.ChatMessage or a protocol.StateEvent.
	event func(context.Context, any)
}

func newHandler(r *Router, typ string) *handler {
	h := &handler{
		typ:       typ,
		r:         r,
		stopped:   make(chan struct{}),
		logErrors: rate.Sometimes{First: 5, Interval: 10 * time.Second},
	}
	h.ctx = context.WithValue(r.ctx, callerKey{}, h)
	h.callbacks.Store(&[]callback{})
	return h
}

// callerKey marks the context passed to callbacks with their handler.
type callerKey struct{}

func (h *handler) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *messages.Message:
		h.handle(func(cb callback) error { return cb.fn(h.ctx, *m) }, m, msgSize(m))
	case *protocol.ChatInbound:
		h.handle(func(cb callback) error { cb.event(h.ctx, m.Chat); return nil }, nil, msgSize(m))
	case protocol.StateEvent:
		h.handle(func(cb callback) error { cb.event(h.ctx, m); return nil }, nil, 0)
	case *actor.Restarting:
		h.r.counters.Restarts.Add(1)
		h.r.log.Info().Str("type", h.typ).Msg("restarting handler")
	case *actor.Stopping:
		h.stopMu.Lock()
		h.stopping = true
		h.stopMu.Unlock()
	case *actor.Stopped:
		h.abandon()
		h.stopOnce.Do(func() { close(h.stopped) })
		h.r.retire(h)
	}
}

// handle runs every callback, in registration order, even when an earlier
// one panics; then it re-panics with the first panic so that the supervisor
// restarts this actor. Only payload callbacks (payload is not nil) count
// as Delivered and are observed: the chat and state handlers' calls
// deliver no payload.
func (h *handler) handle(call func(callback) error, payload *messages.Message, size int64) {
	// The message counts against the bounds until its callbacks return, as
	// they hold it until then.
	defer h.pendingBytes.Add(-size)
	h.busy.Store(true)
	if h.halted.Load() {
		h.busy.Store(false)
		h.pending.Add(-1)
		if h != h.r.state {
			h.r.counters.Drop(metrics.AbandonedInbound)
		}
		return
	}
	var first *PanicError
	for _, cb := range *h.callbacks.Load() {
		if p := h.run(call, cb, payload); p != nil && first == nil {
			first = p
		}
	}
	h.busy.Store(false)
	h.pending.Add(-1)
	if first != nil {
		panic(first)
	}
}

func (h *handler) run(call func(callback) error, cb callback, payload *messages.Message) (p *PanicError) {
	// The clock is read only for an observer: most nodes have none.
	observe := h.r.cfg.Observe
	if payload == nil {
		observe = nil
	}
	var started time.Time
	if observe != nil {
		started = time.Now()
	}
	outcome := OutcomePanic // until the callback returns
	defer func() {
		if v := recover(); v != nil {
			p = &PanicError{Type: h.typ, Value: v, Stack: debug.Stack()}
			h.r.counters.HandlerPanics.Add(1)
			h.r.log.Error().Str("type", h.typ).Interface("panic", v).Bytes("stack", p.Stack).Msg("handler panicked")
		}
		if observe != nil {
			observe(CallbackEvent{Type: h.typ, Outcome: outcome, Started: started, Duration: time.Since(started), Sent: payload.Sent})
		}
	}()
	if err := callbackFrame(call, cb); err != nil {
		outcome = OutcomeError
		h.r.counters.HandlerErrors.Add(1)
		h.logErrors.Do(func() {
			h.r.log.Warn().Str("type", h.typ).Err(err).Msg("handler returned an error")
		})
		return nil
	}
	outcome = OutcomeOK
	if payload != nil {
		h.r.counters.Delivered.Add(1)
	}
	return nil
}

// abandon counts what is left in h's mailbox as it stops: protoactor drops
// it without a word. The state handler's leftovers are connection changes,
// not messages from the room, so they are not counted.
func (h *handler) abandon() {
	h.pendingBytes.Store(0)
	if n := h.pending.Swap(0); n > 0 && h != h.r.state {
		h.r.counters.DropN(metrics.AbandonedInbound, n)
		h.r.log.Warn().Str("type", h.typ).Int64("count", n).Str("reason", metrics.AbandonedInbound.String()).Msg("dropped messages left for a stopped handler")
	}
}

// callbackFrame calls back; InCallback looks for its frame on the stack, the
// one thing a goroutine can learn about itself without goroutine ids.
//
//go:noinline
func callbackFrame(call func(callback) error, cb callback) error { return call(cb) }

var callbackFrameName = runtime.FuncForPC(reflect.ValueOf(callbackFrame).Pointer()).Name()

// InCallback reports whether the calling goroutine is running a callback
// of some handler (of any router): whether a handler's actor is waiting for
// it to return.
func InCallback() bool {
	pcs := make([]uintptr, 64)
	for skip := 2; ; {
		n := runtime.Callers(skip, pcs)
		frames := runtime.CallersFrames(pcs[:n])
		for {
			f, more := frames.Next()
			if f.Function == callbackFrameName {
				return true
			}
			if !more {
				break
			}
		}
		if n < len(pcs) {
			return false
		}
		skip += n
	}
}

// poison sends h a PoisonPill through send, unless one was sent already or
// h is stopping: a second one could reach h after it stopped, a dead letter.
func (h *handler) poison(send func(*actor.PID)) {
	if !h.poisoned.Swap(true) {
		h.tell(send)
	}
}

// tell calls send(h.pid) (a Poison or a Stop) unless h is stopping.
func (h *handler) tell(send func(*actor.PID)) {
	h.stopMu.Lock()
	defer h.stopMu.Unlock()
	if !h.stopping {
		send(h.pid)
	}
}

// add and remove replace the callback list; the caller holds r.mu.
func (h *handler) add(cb callback) {
	old := *h.callbacks.Load()
	next := append(old[:len(old):len(old)], cb)
	h.callbacks.Store(&next)
}

func (h *handler) remove(id uint64) (left int) {
	old := *h.callbacks.Load()
	next := make([]callback, 0, len(old))
	for _, cb := range old {
		if cb.id != id {
			next = append(next, cb)
		}
	}
	h.callbacks.Store(&next)
	return len(next)
}
