package socketscience

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience/actors"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/gateway"
	"github.com/socketscience/socketscience/internal/goroutines"
	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/internal/protocol"
	"github.com/socketscience/socketscience/messages"
)

// Payload is what Send posts: each top-level key is a message type, holding
// that type's data. Values may be any msgpack-encodable Go value; struct
// fields are named by their `msgpack` tag, else their `json` tag.
type Payload = messages.Payload

// Message is what a handler receives for one type of one payload.
type Message = messages.Message

// HandlerFunc handles the messages of one type.
type HandlerFunc = messages.HandlerFunc

// Node is one bot instance's membership of the room. Its methods are safe
// for concurrent use.
type Node struct {
	opts options
	id   string
	// incarnation tells this run of the node from others with its id.
	incarnation uint64
	log         zerolog.Logger
	rt          *Runtime
	system      *actor.ActorSystem
	group       goroutines.Group // every goroutine the node's actors run on
	counters    metrics.Counters
	strategies  []*actors.Strategy // one per kind of actor; see supervise
	router      *actors.Router
	rooms       []*room          // New's first, then WithRooms' in order
	gateway     *gateway.Gateway // the first room's
	closed      atomic.Bool

	// With several rooms: sendLock (a one-slot semaphore that a waiting
	// Send can give up on) numbers payloads, seq the last payload's, and
	// deliveries tracks what Flush waits for.
	sendLock   chan struct{}
	seq        uint64
	deliveries deliveries

	// sending is read-locked by Send and Post from their closed check until
	// their payload is in the gateway's mailbox; Close write-locks it after
	// setting closed, so its drain covers every payload a Send accepted.
	sending sync.RWMutex
	// closing ends when Close begins, releasing Sends that wait for queue
	// room (they return ErrClosed) so that Close's write lock is not held up.
	closing     context.Context
	stopSending context.CancelFunc

	closeOnce sync.Once
	// Close's shutdown runs on a goroutine of its own (n.shutdown), so that
	// Close can return by its ctx's deadline, or while its caller's handler
	// is still running, and finish stopping after that.
	aborted     context.Context         // the shutdown's ctx
	abort       context.CancelCauseFunc // ends it: the first Close's ctx ended first
	gatewayDone chan struct{}           // closed once the gateway has stopped; drainErr is set
	drainErr    error
	done        chan struct{} // closed once every goroutine of the node has ended; closeErr is set
	closeErr    error
}

// New starts a node that joins the room through dialer, on a Runtime of
// its own that Close releases (NewRuntime and Runtime.NewNode share one
// between nodes). It returns at once and connects in the background,
// retrying with backoff; Health tells how that goes.
func New(dialer chatgateway.Dialer, opts ...Option) (*Node, error) {
	o, err := resolveOptions(dialer, opts)
	if err != nil {
		return nil, err
	}
	// The node's own logger takes protoactor's warnings and dead letters.
	rt := &Runtime{log: o.log, nodes: make(map[*Node]struct{}), private: true}
	rt.start()
	n := newNode(rt, dialer, o)
	rt.nodes[n] = struct{}{}
	return n, nil
}

// resolveOptions applies opts to the defaults.
func resolveOptions(dialer chatgateway.Dialer, opts []Option) (options, error) {
	if dialer == nil {
		return options{}, errors.New("socketscience: a node needs a chatgateway.Dialer")
	}
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			return options{}, fmt.Errorf("%w: nil Option", ErrInvalidOption)
		}
		if err := opt(&o); err != nil {
			return options{}, err
		}
	}
	if o.nodeID == "" {
		o.nodeID = randomID()
	}
	if rooms := 1 + len(o.rooms); o.policy.some && o.policy.k > rooms {
		return options{}, invalidOption("WithSendPolicy", "%d rooms wanted of %d", o.policy.k, rooms)
	}
	return o, nil
}

// newNode spawns a node's actors on rt's system.
func newNode(rt *Runtime, dialer chatgateway.Dialer, o options) *Node {
	n := &Node{opts: o, id: o.nodeID, incarnation: randomIncarnation(), rt: rt, system: rt.system,
		gatewayDone: make(chan struct{}), done: make(chan struct{})}
	n.closing, n.stopSending = context.WithCancel(context.Background())
	n.log = o.log.With().Str("node", n.id).Logger()
	dispatcher := n.group.Dispatcher()
	var onState func(context.Context, protocol.StateEvent)
	if o.state != nil {
		onState = func(ctx context.Context, ev protocol.StateEvent) { o.state(ctx, stateChange(ev)) }
	}
	dialers := append([]chatgateway.Dialer{dialer}, o.rooms...)
	backlog := protocol.NewBacklog(protocol.DefaultBacklog)
	n.router = actors.NewRouter(actors.Config{
		Backlog:         backlog,
		Rooms:           len(dialers),
		Clock:           o.clock,
		ReorderWait:     o.reorderWait,
		System:          n.system,
		Strategy:        n.supervise(handlerKind, o.handlerPolicy),
		RouterStrategy:  n.supervise(routerKind, machineryPolicy()),
		Dispatcher:      dispatcher,
		Logger:          &n.log,
		Counters:        &n.counters,
		MaxPending:      o.maxPending,
		MaxPendingBytes: o.maxPendBytes,
		Self:            n.id,
		SelfIncarnation: n.incarnation,
		DeliverToSelf:   !o.noSelfDelivery,
		Chat:            o.chat,
		State:           onState,
		Observe:         n.observer(o.observer),
	})
	guardian := n.supervise(gatewayKind, machineryPolicy())
	n.rooms = make([]*room, len(dialers))
	for i, d := range dialers {
		r := &room{index: i}
		log := &n.log
		if len(dialers) > 1 {
			l := n.log.With().Int("room_index", i).Logger()
			log = &l
		}
		r.gateway = gateway.New(gateway.Config{
			System:          n.system,
			Dialer:          d,
			Router:          n.router.PID(),
			Backlog:         backlog,
			Room:            i,
			Policy:          &o.reconnect,
			Clock:           o.clock,
			Rand:            o.rand,
			Logger:          log,
			Counters:        &r.counters,
			QueueSize:       o.queueSize,
			QueueBytes:      o.queueBytes,
			Dispatcher:      dispatcher,
			Guardian:        guardian,
			TrustedUsers:    o.trusted,
			TrustedAccounts: o.trustedAccounts,
			NodeID:          n.id,
			Incarnation:     n.incarnation,
			NoCoalesce:      o.noCoalesce,
			OnState:         n.router.NotifyState,
			Secret:          o.secret,
			MaxClockSkew:    o.maxClockSkew,
			Limits:          o.limits,
			Reassembly:      o.reassembly,
		})
		n.rooms[i] = r
	}
	n.gateway = n.rooms[0].gateway
	n.sendLock = make(chan struct{}, 1)
	return n
}

// randomIncarnation is a random non-zero incarnation: zero marks version 1
// envelopes, which have none.
func randomIncarnation() uint64 {
	for {
		var b [8]byte
		_, _ = rand.Read(b[:])
		if v := binary.LittleEndian.Uint64(b[:]); v != 0 {
			return v
		}
	}
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ID is the node id this node puts in its frames.
func (n *Node) ID() string { return n.id }

// Send queues p for posting to the room as one frame. It returns once p is
// queued, not posted (Flush waits for that). When the queue is full it
// waits for room until ctx ends, returning ctx's error (or,
// WithNonBlockingSend, returns ErrQueueFull at once). It returns
// ErrInvalidPayload or ErrPayloadTooLarge for a payload that receivers
// could not take, ErrStopped once the connection has failed for good, and
// ErrClosed once Close has begun.
func (n *Node) Send(ctx context.Context, p Payload) error {
	if n.closed.Load() {
		return ErrClosed
	}
	if len(p) == 0 {
		return fmt.Errorf("%w: no message types", ErrInvalidPayload)
	}
	types, err := messages.EncodeTypes(p)
	if errors.Is(err, messages.ErrTooLarge) {
		return fmt.Errorf("%w: %w", ErrPayloadTooLarge, err)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	if err := n.checkSize(types); err != nil {
		return err
	}
	if err := n.enqueue(ctx, protocol.Outbound{Types: types}); err != nil {
		return err
	}
	n.counters.Sent.Add(1)
	return nil
}

// checkSize fails a payload that no post could carry, or that receivers
// could not put back together: a frame over messages.DefaultMaxFrameLen,
// or, on a connected server with a message limit, one whose fragments
// would exceed the receivers' reassembly limits (taken to be this node's,
// WithReassemblyLimits) or whose pieces the server's pace would space
// further apart than their reassembly timeout. While the limits are not
// known (not yet connected) the gateway checks the same when it composes
// the post, and drops what fails with a counted reason that Flush reports.
func (n *Node) checkSize(types []messages.RawType) error {
	// The longest envelope this node can write.
	env := &messages.Envelope{Node: n.id, Incarnation: math.MaxUint64, Seq: math.MaxUint64, Time: math.MaxInt64, Sig: make([]byte, sha256.Size)}
	size := messages.ComposedLen(types, env)
	if size > messages.DefaultMaxFrameLen {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrPayloadTooLarge, size, messages.DefaultMaxFrameLen)
	}
	limits := n.gateway.Limits()
	limit := limits.MaxMessageLen
	if limit <= 0 || size <= limit {
		return nil
	}
	frame, err := messages.ComposeFrame(types, env)
	var pieces []string
	if err == nil {
		pieces, err = messages.Fragment(frame, limit, messages.NewFragmentID(n.incarnation))
	}
	if err == nil {
		err = n.opts.reassembly.Check(pieces)
	}
	if err != nil {
		return fmt.Errorf("%w: %d bytes do not fit in fragments of %d: %w", ErrPayloadTooLarge, size, limit, err)
	}
	if timeout := n.opts.reassembly.Resolved().Timeout; limits.PostInterval >= timeout {
		return fmt.Errorf("%w: its %d fragments would go out one per %v, slower than receivers wait for the next (%v)",
			ErrPayloadTooLarge, len(pieces), limits.PostInterval, timeout)
	}
	return nil
}

// Post queues plain text for the room, through the same queue as Send. It
// refuses (ErrInvalidPayload) any text that a receiver would take for a
// frame or a fragment, however disguised (messages.Classify decides, as
// receivers do), so relaying strangers' words can never inject a payload.
// Otherwise it returns what Send would: ErrQueueFull, ErrStopped,
// ErrClosed, or ctx's error.
func (n *Node) Post(ctx context.Context, text string) error {
	if n.closed.Load() {
		return ErrClosed
	}
	if messages.Classify(text) != messages.KindChat {
		return fmt.Errorf("%w: receivers would read the text as a frame or a fragment", ErrInvalidPayload)
	}
	return n.enqueue(ctx, protocol.Outbound{Text: text})
}

// enqueue hands out to the gateway, or returns ErrClosed once Close has
// begun: never both, so a payload it accepts is covered by Close's drain.
func (n *Node) enqueue(ctx context.Context, out protocol.Outbound) error {
	n.sending.RLock()
	defer n.sending.RUnlock()
	if n.closed.Load() {
		return ErrClosed
	}
	if n.multi() {
		return n.enqueueRooms(ctx, out)
	}
	err := n.gateway.Enqueue(ctx, out, false)
	if errors.Is(err, gateway.ErrQueueFull) && !n.opts.nonBlocking {
		// Waiting for room holds the read lock, so Close must be able to end
		// the wait: only this slow path pays for a merged context.
		wctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(n.closing, cancel)
		err = n.gateway.Enqueue(wctx, out, true)
		stop()
		cancel()
		if err != nil && ctx.Err() == nil && n.closing.Err() != nil {
			return ErrClosed
		}
	}
	if errors.Is(err, gateway.ErrStopped) && n.closed.Load() {
		return &nodeError{sentinel: ErrClosed, lower: err}
	}
	return n.rootErr(err)
}

// Register adds fn as a callback for message type typ, after any already
// registered for it; each payload's data for typ is passed to every
// callback in registration order, on the type's own actor. It returns a
// function that removes the callback. A callback that returns an error is
// logged and counted; one that panics is logged with its stack, counted,
// and its type's actor restarted with backoff; other types never notice.
// It returns ErrNilHandler for a nil fn, and ErrClosed once Close has begun.
func (n *Node) Register(typ string, fn HandlerFunc) (unregister func(), err error) {
	if n.closed.Load() {
		return nil, ErrClosed
	}
	unregister, err = n.router.Register(typ, fn)
	if err != nil {
		return nil, n.rootErr(err)
	}
	return unregister, nil
}

// WaitConnected blocks until the node is connected to the room, or its
// connection has failed for good (ErrStopped), or Close has stopped it
// (ErrClosed), or ctx ends (ctx's error).
//
// With several rooms (WithRooms), it waits for any of them; ErrStopped means
// every room has failed for good.
func (n *Node) WaitConnected(ctx context.Context) error {
	if n.multi() {
		return n.waitConnectedRooms(ctx)
	}
	return n.rootErr(n.gateway.WaitConnected(ctx))
}

// Flush waits until everything queued so far has been posted or dropped,
// or ctx ends. It returns an error matching ErrDropped if queued posts were
// dropped (each counted in Stats().Dropped) since the last Flush reported
// drops; each drop is reported once, to one caller. It returns ErrStopped
// if the connection fails for good with posts still queued, and ErrClosed
// once Close has stopped the connection.
//
// With several rooms (WithRooms), a payload or text counts as posted once
// any room has posted it: Flush waits until each one queued before it has
// been posted by some room, or dropped by every room that had it (those
// are what its ErrDropped reports; a copy one room dropped while another
// posted it is counted in that room's RoomStats only). A room that is
// down does not hold Flush up while another room posts its copies; Flush
// returns ErrStopped once every room has failed for good with something
// still queued.
func (n *Node) Flush(ctx context.Context) error {
	if n.multi() {
		return n.flushRooms(ctx)
	}
	return n.rootErr(n.gateway.Drain(ctx))
}

// Close stops the node. It posts what is queued and lets handlers finish
// what they have been given until ctx ends; from then on it drops what is
// left (counted as abandoned for posts, abandoned_inbound for handlers'
// messages) and cancels the handlers' context. No callback starts after
// Close returns.
//
// Close returns once every goroutine of the node has ended, with nil, or
// with ctx's error (wrapped) if it had to drop anything, or an error
// matching ErrDropped (posts dropped since the last Flush) or ErrStopped
// (the connection failed for good with posts still queued). It never waits
// past ctx's end, nor for the callback that calls it: when it returns
// before everything has stopped, it returns a *CloseError naming the
// handler types still running a callback, and the node finishes stopping
// on its own as soon as they return.
//
// From inside a callback, pass Close the callback's ctx (or one derived from
// it): Close then waits for everything but that callback's handler, returns
// nil (or the queue's error), and the handler stops once the callback
// returns, dropping any messages still waiting for it. Close cannot tell
// which handler calls it otherwise (Go has no goroutine ids), only that its
// goroutine is running some callback: given a ctx that can never end
// (context.Background()) there, it waits for everything but the handlers
// that were running a callback when it was called (one of them is its
// caller), and returns a *CloseError naming those still running, with
// ErrNotWaited; given a ctx that can end, it returns by its end. A callback
// that waits for another goroutine which calls Close(context.Background())
// hangs both, as Close cannot see that; pass that goroutine the callback's
// ctx.
//
// Calling Close again, concurrently or later, waits with its own ctx for
// the same shutdown, and returns its result once every goroutine has ended.
func (n *Node) Close(ctx context.Context) error {
	exempt := n.router.Exempt(ctx)
	first := false
	n.closeOnce.Do(func() {
		first = true
		n.closed.Store(true)
		n.stopSending()
		// The shutdown outlives Close when Close returns early (see above);
		// the caller's ctx may end then, as it should, without failing a
		// shutdown that Close already reported on.
		n.aborted, n.abort = context.WithCancelCause(context.Background())
		go n.shutdown(n.aborted)
	})
	select {
	case <-n.done:
		return n.closeErr
	default:
	}
	err := waitDone(ctx, n.gatewayDone)
	if err == nil {
		err = n.router.WaitStopped(ctx, exempt)
	}
	if err != nil {
		if first {
			// Halt the handlers here, not only in the shutdown goroutine, so
			// that no callback starts after Close returns.
			n.abort(err)
			n.router.Abort()
		}
		return n.unfinished(exempt, err)
	}
	if stuck := n.router.Stuck(exempt); len(stuck) > 0 {
		return &CloseError{Stuck: stuck, Err: ErrNotWaited}
	}
	if exempt.Caller() {
		// Only the caller's handler is left; it stops once the callback
		// returns.
		return n.drainErr
	}
	// Everything has stopped but goroutines finishing up; no user code runs.
	<-n.done
	return n.closeErr
}

// unfinished is Close's result when its ctx ended before the node stopped.
// Once the shutdown has been aborted and no callback other than the
// caller's is running, nothing can hold the node up any more, and Close
// waits for it to stop rather than report an unfinished shutdown. A later
// Close's ctx ending does not abort a shutdown the first Close still waits
// for.
func (n *Node) unfinished(exempt exemption, err error) error {
	if n.aborted.Err() == nil {
		return &CloseError{Stuck: n.router.Stuck(exempt), Err: err}
	}
	n.router.Abort() // the shutdown goroutine may not have got there yet
	stuck := n.router.Stuck(exempt)
	if len(stuck) == 0 && !exempt.Caller() {
		<-n.done
		return n.closeErr
	}
	return &CloseError{Stuck: stuck, Err: err}
}

// exemption is what Close must not wait for; see actors.Router.Exempt.
type exemption = actors.Exemption

// cause reports the error of Close's ctx (a deadline, say) rather than the
// cancellation of the shutdown's ctx that it caused.
func cause(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) {
		if c := context.Cause(ctx); c != nil {
			return c
		}
	}
	return err
}

func waitDone(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shutdown stops the node's parts in order, on a goroutine of its own. Its
// ctx ends when the first Close's ctx ends while that Close waits; from then
// on each step finishes without user code, except the wait for a callback
// that ignores its context.
func (n *Node) shutdown(ctx context.Context) {
	defer close(n.done)
	defer n.abort(nil)
	// Wait for Sends past their closed check: what they queued is in the
	// gateway's mailbox before the Drain below, so the drain covers it.
	n.sending.Lock()
	//lint:ignore SA2001 the empty critical section is the point: it waits for the read lockers
	n.sending.Unlock()
	var drainErr error
	if n.multi() {
		drainErr = n.drainRooms(ctx)
	} else {
		drainErr = n.gateway.Drain(ctx)
		n.gateway.Stop()
	}
	if drainErr != nil {
		drainErr = fmt.Errorf("socketscience: posting the queue: %w", cause(ctx, n.rootErr(drainErr)))
	}
	n.drainErr = drainErr
	close(n.gatewayDone)
	routerErr := n.router.Stop(ctx)
	if routerErr != nil {
		routerErr = fmt.Errorf("socketscience: draining handlers: %w", cause(ctx, routerErr))
	}
	for _, s := range n.strategies {
		s.Stop()
	}
	// Every actor has stopped; what is left are their mailbox goroutines
	// finishing up.
	_ = n.group.Wait(context.Background())
	n.rt.release(n)
	n.log.Info().Msg("closed")
	n.closeErr = errors.Join(drainErr, routerErr)
}
