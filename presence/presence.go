package presence

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"

	socketscience "github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/supervisor"
)

// Presence runs the election and the membership view for one Node over
// the Node's public API: it sends and handles RecordType payloads, reads
// SmokeDetector's pings, and watches Node.Health for reconnections. Its
// methods are safe for concurrent use.
type Presence struct {
	node  *socketscience.Node
	opts  options
	log   zerolog.Logger
	clock supervisor.Clock

	mu       sync.Mutex
	core     *Core
	closed   bool
	outbox   []Record
	queued   uint64 // records ever put in outbox
	events   []Event
	conn     bool
	since    time.Time
	tick     supervisor.Timer
	deadline supervisor.Timer
	dl       time.Time
	// activeCtx is cancelled the moment this node stops being active; nil
	// while it is not.
	activeCtx    context.Context
	cancelActive context.CancelFunc
	changed      chan struct{} // closed and replaced on every role change
	sentUpTo     uint64        // records handed to Send
	flushed      chan struct{} // closed and replaced when sentUpTo grows

	unregister []func()
	wake       chan struct{}
	// ctx ends when Close stops the loop, cancelling a Send in progress.
	ctx  context.Context
	stop context.CancelFunc
	done chan struct{}
}

// pingType is SmokeDetector's presence message type.
const pingType = "ping"

// ping is SmokeDetector's ping: its location and a Unix time in seconds.
type ping struct {
	Location  string  `msgpack:"location" json:"location"`
	Timestamp float64 `msgpack:"timestamp" json:"timestamp"`
}

// New starts presence for node, which should be new: presence must read
// every record from its first connection on. The node must deliver its
// own payloads back (the default; not WithoutSelfDelivery): reading its
// own posts back is how presence knows they are in the room. Close stops
// it; close the node after.
func New(node *socketscience.Node, opts ...Option) (*Presence, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			return nil, ErrInvalidOption
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	inc := binary.LittleEndian.Uint64(b[:]) | 1
	name := o.name
	if name == "" {
		name = node.ID()
	}
	now := o.clock.Now()
	core, err := NewCore(Self{ID: node.ID(), Inc: inc, Name: name, Priority: o.priority, Start: now,
		Version: o.version, Failback: o.failback}, o.timings, now)
	if err != nil {
		return nil, err
	}
	p := &Presence{node: node, opts: o, clock: o.clock, core: core, log: o.log.With().Str("node", node.ID()).Logger(),
		changed: make(chan struct{}), flushed: make(chan struct{}),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	p.ctx, p.stop = context.WithCancel(context.Background())
	core.force = o.force
	un, err := node.Register(RecordType, p.onRecord)
	if err != nil {
		p.stop()
		return nil, err
	}
	p.unregister = append(p.unregister, un)
	un, err = socketscience.Handle(node, pingType, p.onPing)
	if err != nil {
		p.unregister[0]()
		p.stop()
		return nil, err
	}
	p.unregister = append(p.unregister, un)
	go p.loop()
	p.mu.Lock()
	p.onTick()
	p.mu.Unlock()
	return p, nil
}

// IsActive reports whether this node is the active instance now.
func (p *Presence) IsActive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.core.Active()
}

// Term is the current term: while active, the fencing token to hand to
// whatever the active writes (a store that refuses writes with a token
// lower than one it has seen refuses a deposed active's late writes);
// otherwise the latest term this node knows of.
func (p *Presence) Term() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.core.Term()
}

// Holder is the id of the node holding the current term, as far as this
// node knows; empty if none or unknown.
func (p *Presence) Holder() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.core.Holder()
}

// Ready reports whether this node could take over: connected, caught up
// with the room since its hello, and knowing the election's state.
func (p *Presence) Ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.core.Ready()
}

// Members lists the members this node knows, in preference order, itself
// included, SmokeDetector instances too.
func (p *Presence) Members() []Member {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.core.Members()
}

// WhileActive runs fn each time this node becomes active, with a context
// that is cancelled the moment it stops being active (or ctx ends). If fn
// returns nil while still active, WhileActive waits for the next term.
// It returns ctx's error when ctx ends, ErrClosed once Close has begun,
// and fn's error if fn fails while still active.
func (p *Presence) WhileActive(ctx context.Context, fn func(context.Context) error) error {
	for {
		p.mu.Lock()
		actx, changed, closed := p.activeCtx, p.changed, p.closed
		p.mu.Unlock()
		if closed {
			return ErrClosed
		}
		if actx == nil {
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return ctx.Err()
			case <-p.ctx.Done():
				return ErrClosed
			}
		}
		// A child of actx, so that it is cancelled within the call that
		// ends the role, before IsActive can say so; ctx's end reaches it
		// through AfterFunc, and its values through workCtx.
		inner, cancel := context.WithCancel(actx)
		stop := context.AfterFunc(ctx, cancel)
		err := fn(workCtx{Context: inner, values: ctx})
		stop()
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && actx.Err() == nil:
			return err
		}
		select { // the rest of this term
		case <-actx.Done():
		case <-ctx.Done():
			return ctx.Err()
		case <-p.ctx.Done():
			return ErrClosed
		}
	}
}

// StepDown gives the term up: this node stops acting at once and posts a
// resignation, which lets a standby claim without waiting for the lease.
// It returns ErrNotActive if this node is not active, else once the
// resignation is handed to the node for posting (or ctx ends).
func (p *Presence) StepDown(ctx context.Context) error { return p.Handover(ctx, "") }

// Handover stops acting at once and hands the term to the alive member to,
// which may claim as soon as it reads the resignation (the other standbys
// wait a lease for it). It returns ErrNotActive if this node is not
// active, ErrUnknownMember if to is not an alive Go member, else once the
// resignation is handed to the node for posting (or ctx ends).
func (p *Presence) Handover(ctx context.Context, to string) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	recs, err := p.core.Handover(p.clock.Now(), to)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	upTo := p.apply(recs)
	p.mu.Unlock()
	return p.waitSent(ctx, upTo)
}

// Force sets an operator's override: ForceStandby never claims (an
// active steps down at once, posting a resignation), ForceActive claims
// ahead of every other standby and asks the active to hand over (leases
// are still honoured), ForceAuto returns to the election's choice.
func (p *Presence) Force(ctx context.Context, f Force) error {
	if err := WithForce(f)(&options{}); err != nil {
		return err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	upTo := p.apply(p.core.Force(p.clock.Now(), f))
	p.mu.Unlock()
	return p.waitSent(ctx, upTo)
}

// Close stops presence: if this node is active it steps down first,
// posting a resignation so that a standby takes over at once; it stops
// presence's goroutine and timers and unregisters its handlers. It does
// not close the node; close the node after, to let the resignation out.
func (p *Presence) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	var upTo uint64
	if p.core.Active() {
		recs, _ := p.core.StepDown(p.clock.Now())
		upTo = p.apply(recs)
	}
	p.mu.Unlock()
	err := p.waitSent(ctx, upTo)
	p.mu.Lock()
	p.closed = true
	if p.tick != nil {
		p.tick.Stop()
	}
	if p.deadline != nil {
		p.deadline.Stop()
	}
	p.mu.Unlock()
	for _, un := range p.unregister {
		un()
	}
	p.stop()
	<-p.done
	return err
}

// waitSent waits until the records queued up to upTo were handed to Send.
func (p *Presence) waitSent(ctx context.Context, upTo uint64) error {
	for {
		p.mu.Lock()
		sent, ch := p.sentUpTo, p.flushed
		p.mu.Unlock()
		if sent >= upTo {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return ErrClosed
		}
	}
}

// onRecord is the handler of RecordType.
func (p *Presence) onRecord(_ context.Context, m socketscience.Message) error {
	var r Record
	if err := m.Decode(&r); err != nil {
		return err
	}
	if m.Sender.NodeID != r.Node {
		// A node speaks only for itself (its envelope names it).
		return ErrBadRecord
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	now := p.clock.Now()
	p.checkConn(now)
	recs, err := p.core.Read(now, r)
	if err != nil {
		return err
	}
	p.apply(recs)
	return nil
}

// onPing is the handler of SmokeDetector's pings.
func (p *Presence) onPing(_ context.Context, v ping) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	sec := int64(v.Timestamp)
	p.core.ReadPing(p.clock.Now(), v.Location, time.Unix(sec, int64((v.Timestamp-float64(sec))*1e9)))
	p.apply(nil)
	return nil
}

// checkConn tells the core about connection changes, as Health shows
// them: a new Since while connected is a reconnection, so a gap.
func (p *Presence) checkConn(now time.Time) {
	h := p.node.Health()
	switch {
	case h.Connected && (!p.conn || !h.Since.Equal(p.since)):
		if p.conn {
			p.core.Disconnect(now)
		}
		p.conn, p.since = true, h.Since
		p.apply(p.core.Connect(now))
	case !h.Connected && p.conn:
		p.conn = false
		p.core.Disconnect(now)
	}
}

// onTick runs on the clock, with p.mu held.
func (p *Presence) onTick() {
	if p.closed {
		return
	}
	now := p.clock.Now()
	p.checkConn(now)
	p.apply(p.core.Tick(now))
	p.tick = p.clock.AfterFunc(p.opts.timings.Tick, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.onTick()
	})
}

// apply queues recs and the core's events, follows the role, and wakes
// the loop. It returns the number of records queued so far. p.mu is held.
func (p *Presence) apply(recs []Record) uint64 {
	p.outbox = append(p.outbox, recs...)
	p.queued += uint64(len(recs))
	for _, ev := range p.core.Events() {
		if ev.Kind == EventRole {
			p.role(ev)
		}
		p.events = append(p.events, ev)
	}
	p.armDeadline()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return p.queued
}

// role follows a role change: the active context starts or is cancelled
// at once, before any callback runs.
func (p *Presence) role(ev Event) {
	if ev.Active && p.activeCtx == nil {
		p.activeCtx, p.cancelActive = context.WithCancel(context.Background())
	} else if !ev.Active && p.activeCtx != nil {
		p.cancelActive()
		p.activeCtx, p.cancelActive = nil, nil
	}
	close(p.changed)
	p.changed = make(chan struct{})
	lvl := p.log.Info()
	if !ev.Active {
		lvl = p.log.Warn()
	}
	lvl.Bool("active", ev.Active).Uint64("term", ev.Term).Str("cause", ev.Reason).Msg("presence role changed")
}

// armDeadline makes the core step down exactly at its deadline, not a
// tick later.
func (p *Presence) armDeadline() {
	dl := p.core.Deadline()
	if dl.Equal(p.dl) || p.closed {
		return
	}
	if p.deadline != nil {
		p.deadline.Stop()
	}
	p.dl, p.deadline = dl, nil
	if dl.IsZero() {
		return
	}
	p.deadline = p.clock.AfterFunc(max(dl.Sub(p.clock.Now()), 0), func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			return
		}
		p.dl = time.Time{}
		p.apply(p.core.Tick(p.clock.Now()))
	})
}

// loop posts the outbox and runs the callbacks, in order, off the lock.
func (p *Presence) loop() {
	defer close(p.done)
	ctx := p.ctx
	for {
		select {
		case <-ctx.Done():
			p.mu.Lock()
			if p.cancelActive != nil {
				p.cancelActive()
			}
			p.mu.Unlock()
			return
		case <-p.wake:
		}
		p.mu.Lock()
		out, events, upTo := p.outbox, p.events, p.queued
		p.outbox, p.events = nil, nil
		active := p.core.Active()
		p.mu.Unlock()
		for _, ev := range events {
			p.notify(ctx, ev)
		}
		for _, r := range out {
			p.send(ctx, r, active)
		}
		p.mu.Lock()
		p.sentUpTo = upTo
		close(p.flushed)
		p.flushed = make(chan struct{})
		p.mu.Unlock()
	}
}

func (p *Presence) notify(ctx context.Context, ev Event) {
	switch {
	case ev.Kind == EventRole && p.opts.onRole != nil:
		p.opts.onRole(ctx, RoleChange{Active: ev.Active, Term: ev.Term, Reason: ev.Reason, At: ev.At})
	case ev.Kind == EventMember && p.opts.onMember != nil:
		p.opts.onMember(ctx, ev.Member)
	}
}

// send hands one record to the node, with SmokeDetector's ping beside an
// active's renewal if asked for.
func (p *Presence) send(ctx context.Context, r Record, active bool) {
	payload := socketscience.Payload{RecordType: r}
	if p.opts.ping != "" && active && r.Kind == KindRenew {
		now := p.clock.Now()
		payload[pingType] = ping{Location: p.opts.ping, Timestamp: float64(now.UnixNano()) / 1e9}
	}
	sctx, cancel := context.WithTimeout(ctx, p.opts.timings.RenewInterval)
	defer cancel()
	if err := p.node.Send(sctx, payload); err != nil && !errors.Is(err, context.Canceled) {
		p.log.Warn().Err(err).Str("kind", string(r.Kind)).Msg("presence record not sent")
	}
}

// workCtx is WhileActive's work context: the role's cancellation with the
// caller's values and deadline.
type workCtx struct {
	context.Context
	values context.Context
}

func (w workCtx) Value(key any) any                       { return w.values.Value(key) }
func (w workCtx) Deadline() (deadline time.Time, ok bool) { return w.values.Deadline() }
