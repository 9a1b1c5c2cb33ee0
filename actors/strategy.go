package actors

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/socketscience/socketscience/supervisor"
)

// Failure describes one failure decision made by a Strategy.
type Failure struct {
	// Child is the actor that failed.
	Child *actor.PID
	// Reason is the recovered panic value.
	Reason any
	// Attempt is the number of consecutive failures of Child counted for backoff,
	// including this one (1 for the first). 0 when the Strategy was already stopped.
	Attempt int
	// Delay is how long the restart waits; 0 means restarted at once (or GaveUp).
	Delay time.Duration
	// GaveUp is true when Child was stopped instead of restarted: it exceeded the
	// policy's restart intensity, or the Strategy was stopped.
	GaveUp bool
}

// StrategyOption configures a Strategy.
type StrategyOption func(*Strategy)

// WithStrategyClock sets the clock for failure times and restart timers. Defaults to
// supervisor.SystemClock{}.
func WithStrategyClock(c supervisor.Clock) StrategyOption {
	return func(s *Strategy) {
		if c != nil {
			s.clock = c
		}
	}
}

// WithStrategyRand sets the source of random numbers in [0,1) for jitter; a constant makes
// delays predictable in tests. Defaults to math/rand/v2.Float64.
func WithStrategyRand(rnd func() float64) StrategyOption {
	return func(s *Strategy) {
		if rnd != nil {
			s.rnd = rnd
		}
	}
}

// WithFailureHook sets a function called with every failure decision, for logging and
// counting. It is called synchronously on the supervising actor's goroutine (or the one
// calling Stop) without any Strategy lock held, so it must be cheap and must not block.
// Defaults to none.
func WithFailureHook(f func(Failure)) StrategyOption {
	return func(s *Strategy) { s.hook = f }
}

// Strategy is an actor.SupervisorStrategy that restarts each failed child after a
// backoff delay and stops it once it exceeds the supervisor.Policy's restart intensity.
// Pass it to actor.WithGuardian on the props of actors spawned from the root context,
// which it then supervises. It is safe to share between them.
//
// While a child waits for its restart, protoactor keeps its mailbox suspended, so
// messages sent to it queue up and are processed after the restart (only the message
// that panicked is lost), and its siblings are unaffected.
//
// protoactor's ActorSystem.Shutdown cancels nothing, so call Stop when shutting down.
type Strategy struct {
	policy supervisor.Policy
	clock  supervisor.Clock
	rnd    func() float64
	hook   func(Failure)

	mu       sync.Mutex
	stopped  bool
	children map[childKey]*child
	// sweepAt is the map size at which idle children are next swept out; doubling it
	// after each sweep keeps the sweeping cost amortised O(1) per failure.
	sweepAt int
}

const minSweep = 16

var _ actor.SupervisorStrategy = (*Strategy)(nil)

// childKey identifies a child by address and id; PID.String() would do too but formats a
// protobuf message on every failure.
type childKey struct{ address, id string }

// child is the supervision state of one child actor.
type child struct {
	tracker *supervisor.Tracker
	// While a restart waits: the timer, and what fire and Stop need to act on the child.
	timer supervisor.Timer
	// gen numbers the scheduled restarts, so a stale timer callback can tell it is stale.
	gen    uint64
	system *actor.ActorSystem
	sup    actor.Supervisor
	pid    *actor.PID
	reason any
}

// NewStrategy returns a Strategy applying p to each child separately.
func NewStrategy(p supervisor.Policy, opts ...StrategyOption) *Strategy {
	s := &Strategy{
		policy:   p,
		clock:    supervisor.SystemClock{},
		rnd:      rand.Float64,
		children: make(map[childKey]*child),
		sweepAt:  minSweep,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// HandleFailure implements actor.SupervisorStrategy. protoactor calls it on the parent's
// goroutine when child panics. rs is ignored: the Strategy keeps its own bounded state.
func (s *Strategy) HandleFailure(system *actor.ActorSystem, sup actor.Supervisor, pid *actor.PID, _ *actor.RestartStatistics, reason any, _ any) {
	ev := s.decide(system, sup, pid, reason)
	switch {
	case ev.GaveUp:
		sup.StopChildren(pid)
	case ev.Delay <= 0:
		sup.RestartChildren(pid)
	}
	if s.hook != nil {
		s.hook(ev)
	}
}

// decide records the failure and, for a delayed restart, schedules it.
func (s *Strategy) decide(system *actor.ActorSystem, sup actor.Supervisor, pid *actor.PID, reason any) Failure {
	ev := Failure{Child: pid, Reason: reason}
	key := childKey{pid.Address, pid.Id}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		ev.GaveUp = true
		return ev
	}

	c := s.children[key]
	if c == nil {
		s.maybeSweep()
		// rnd is only ever called under s.mu, so a non-thread-safe rnd is fine.
		c = &child{tracker: s.policy.NewTracker(s.clock, s.rnd)}
		s.children[key] = c
	}
	if c.timer != nil {
		// Cannot normally happen (the child is suspended until restarted), but never
		// leave two restarts pending for one child.
		c.timer.Stop()
		c.timer = nil
	}

	ev.Delay, ev.GaveUp, ev.Attempt = c.tracker.FailedAttempt()
	if ev.GaveUp {
		delete(s.children, key)
		return ev
	}
	if ev.Delay > 0 {
		c.system, c.sup, c.pid, c.reason = system, sup, pid, reason
		c.gen++
		gen := c.gen
		// Even if the timer fires at once, fire waits for s.mu, by which time c.timer is set.
		c.timer = s.clock.AfterFunc(ev.Delay, func() { s.fire(key, c, gen) })
	}
	return ev
}

// fire runs when a restart timer expires. A timer that was replaced or cancelled in the
// meantime does nothing, even if its Stop came too late to prevent this call.
func (s *Strategy) fire(key childKey, c *child, gen uint64) {
	s.mu.Lock()
	if s.stopped || s.children[key] != c || c.timer == nil || c.gen != gen {
		s.mu.Unlock()
		return
	}
	system, sup, pid := c.system, c.sup, c.pid
	c.timer, c.system, c.sup, c.pid, c.reason = nil, nil, nil, nil, nil
	s.mu.Unlock()

	// RestartChildren only posts a system message, which is safe from any goroutine.
	if alive(system, pid) {
		sup.RestartChildren(pid)
	}
}

// alive reports whether pid is still registered. A waiting child is stopped along with
// its parent; posting to it afterwards would only produce a "[DeadLetter]" log line.
// Without a system (in unit tests) it assumes so.
func alive(system *actor.ActorSystem, pid *actor.PID) bool {
	if system == nil {
		return true
	}
	_, ok := system.ProcessRegistry.Get(pid)
	return ok
}

// maybeSweep drops the trackers of children whose failures no longer count (they have
// been quiet for ResetAfter and Window), so a long-lived parent with many short-lived
// children does not accumulate state. Callers hold s.mu.
func (s *Strategy) maybeSweep() {
	if len(s.children) < s.sweepAt {
		return
	}
	now := s.clock.Now()
	for k, c := range s.children {
		if c.timer == nil && c.tracker.Idle(now) {
			delete(s.children, k)
		}
	}
	s.sweepAt = max(minSweep, 2*len(s.children))
}

// Stop cancels every pending restart and stops those children instead, since a child
// whose restart never comes would otherwise stay suspended, and a PoisonPill sent to it
// would never be processed. From then on every failure stops the child at once. Each
// child it stops is reported to the event hook with GaveUp set. Stop is idempotent.
//
// Call it when shutting down, preferably after stopping the supervised actors: children
// that are already gone are skipped, whereas stopping a child here races with its parent
// stopping it too, which can cost a harmless dead letter.
func (s *Strategy) Stop() {
	s.mu.Lock()
	s.stopped = true
	var cancelled []*child
	for _, c := range s.children {
		if c.timer != nil {
			// Even if Stop reports the timer already fired, fire has not restarted the
			// child (it clears c.timer first, under s.mu) and now never will.
			c.timer.Stop()
			c.timer = nil
			cancelled = append(cancelled, c)
		}
	}
	clear(s.children)
	s.mu.Unlock()

	for _, c := range cancelled {
		if !alive(c.system, c.pid) {
			continue
		}
		c.sup.StopChildren(c.pid)
		if s.hook != nil {
			s.hook(Failure{Child: c.pid, Reason: c.reason, Attempt: c.tracker.Attempt(), GaveUp: true})
		}
	}
}

// Pending returns the number of restarts currently waiting for their timer.
func (s *Strategy) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.children {
		if c.timer != nil {
			n++
		}
	}
	return n
}
