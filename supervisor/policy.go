package supervisor

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Defaults for Policy, used by DefaultPolicy.
const (
	// DefaultMaxFailures is how many failures within DefaultWindow are tolerated.
	DefaultMaxFailures = 10
	// DefaultWindow is the span over which failures are counted against MaxFailures.
	DefaultWindow = time.Minute
	// DefaultResetAfter is how long without a failure restarts the backoff from Initial.
	DefaultResetAfter = time.Minute
)

// Policy combines a Backoff with a restart intensity limit.
//
// The backoff itself spaces failures out, so MaxFailures within Window can only be
// exceeded when the first MaxFailures delays add up to less than Window. With the
// defaults they add up to about 76s–152s (depending on jitter), more than a minute, so a
// thing that fails straight after every restart is retried every 30s or so forever rather
// than given up on. That suits a chat connection; lower Max or widen Window if giving up
// matters more.
type Policy struct {
	// Backoff computes the delay before each restart.
	Backoff Backoff
	// MaxFailures is the number of failures tolerated within Window; one more and the
	// tracker gives up. 0 (or negative) means never give up.
	MaxFailures int
	// Window is the span over which failures are counted. 0 (or negative) means
	// failures never age out, so the tracker gives up on failure MaxFailures+1 since the
	// last Reset.
	Window time.Duration
	// ResetAfter: a failure that comes at least this long after the previous one starts
	// the backoff again at attempt 0, because the thing evidently ran well in between.
	// 0 (or negative) means the backoff only restarts on Reset.
	ResetAfter time.Duration
}

// DefaultPolicy returns DefaultBackoff with DefaultMaxFailures, DefaultWindow and
// DefaultResetAfter.
func DefaultPolicy() Policy {
	return Policy{
		Backoff:     DefaultBackoff(),
		MaxFailures: DefaultMaxFailures,
		Window:      DefaultWindow,
		ResetAfter:  DefaultResetAfter,
	}
}

// Tracker is the failure state of one supervised thing (a connection, one child actor).
// It is safe for concurrent use.
type Tracker struct {
	policy Policy
	clock  Clock
	rnd    func() float64

	mu      sync.Mutex
	attempt int       // consecutive failures counted for backoff
	last    time.Time // time of the previous failure; zero if none
	// failures holds the times of failures still inside Window, oldest first. It is
	// trimmed on every failure and never holds more than MaxFailures+1 entries, unlike
	// protoactor's RestartStatistics, which grows until Reset (issue #712).
	failures []time.Time
}

// NewTracker returns a Tracker with no failures. c is the clock (nil means SystemClock{})
// and rnd supplies random numbers in [0,1) for jitter (nil means math/rand/v2.Float64).
// rnd is called with the tracker's lock held; if several trackers share one rnd it must
// be safe for concurrent use.
func (p Policy) NewTracker(c Clock, rnd func() float64) *Tracker {
	if c == nil {
		c = SystemClock{}
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	if p.MaxFailures < 0 {
		p.MaxFailures = 0
	}
	return &Tracker{policy: p, clock: c, rnd: rnd}
}

// Failed records a failure now and returns how long to wait before restarting, or
// giveUp = true (with delay 0) if this failure exceeds MaxFailures within Window. Once
// given up, further failures keep giving up until enough failures age out of Window or
// Reset is called.
func (t *Tracker) Failed() (delay time.Duration, giveUp bool) {
	delay, giveUp, _ = t.FailedAttempt()
	return delay, giveUp
}

// FailedAttempt is Failed that also returns Attempt() as of this failure, read under
// the same lock so that callers (a supervising Strategy) report a consistent value.
func (t *Tracker) FailedAttempt() (delay time.Duration, giveUp bool, attempt int) {
	t.mu.Lock()
	defer t.mu.Unlock()

	now := t.clock.Now()
	if t.quietSince(now) {
		t.attempt = 0
	}
	t.last = now

	if t.policy.MaxFailures > 0 {
		t.trim(now)
		t.failures = append(t.failures, now)
		giveUp = len(t.failures) > t.policy.MaxFailures
	}

	n := t.attempt
	if t.attempt < math.MaxInt {
		t.attempt++
	}
	if giveUp {
		return 0, true, t.attempt
	}
	return t.policy.Backoff.Delay(n, t.rnd()), false, t.attempt
}

// Attempt returns the number of consecutive failures counted for backoff; it is also the
// 0-based attempt the next failure's delay will use. It reads 0 once ResetAfter has passed
// since the last failure, because the next failure will start over.
func (t *Tracker) Attempt() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.quietSince(t.clock.Now()) {
		return 0
	}
	return t.attempt
}

// Reset forgets every failure, as if the tracker were new.
func (t *Tracker) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.attempt = 0
	t.last = time.Time{}
	t.failures = t.failures[:0]
}

// Idle reports whether the tracker is, as of now, indistinguishable from a new one: no
// failure would count towards either backoff or intensity. A supervising Strategy uses it to drop the
// trackers of children that have stopped failing (or stopped existing).
func (t *Tracker) Idle(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.attempt > 0 && !t.quietSince(now) {
		return false
	}
	if t.policy.MaxFailures > 0 && len(t.failures) > 0 {
		return t.policy.Window > 0 && now.Sub(t.failures[len(t.failures)-1]) >= t.policy.Window
	}
	return true
}

// quietSince reports whether ResetAfter has passed since the last failure. Callers hold mu.
func (t *Tracker) quietSince(now time.Time) bool {
	return t.policy.ResetAfter > 0 && !t.last.IsZero() && now.Sub(t.last) >= t.policy.ResetAfter
}

// trim drops failures that are outside Window and, whatever the window, all but the
// newest MaxFailures, so that appending one more keeps the slice at MaxFailures+1 at most.
// Callers hold mu and have MaxFailures > 0.
func (t *Tracker) trim(now time.Time) {
	drop := 0
	if t.policy.Window > 0 {
		for drop < len(t.failures) && now.Sub(t.failures[drop]) >= t.policy.Window {
			drop++
		}
	}
	drop = max(drop, len(t.failures)-t.policy.MaxFailures)
	if drop > 0 {
		// Shift in place so the backing array never grows past MaxFailures+1.
		t.failures = append(t.failures[:0], t.failures[drop:]...)
	}
}
