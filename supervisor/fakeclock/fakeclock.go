// Package fakeclock is a manually advanced supervisor.Clock for tests, so that code
// with backoff delays can be tested without sleeping.
//
// Time stands still until Advance moves it. Advance runs the timers that became due
// synchronously, on the caller's goroutine, so when it returns every callback due by then
// has finished.
package fakeclock

import (
	"slices"
	"sync"
	"time"

	"github.com/socketscience/socketscience/supervisor"
)

// Clock is a fake supervisor.Clock. Create it with New; it is safe for concurrent use,
// but Advance is meant to be called from one goroutine at a time.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64 // creation order, to fire timers with equal deadlines in order
	timers []*timer
}

var _ supervisor.Clock = (*Clock)(nil)

// timer is one AfterFunc call waiting for its deadline.
type timer struct {
	c    *Clock
	when time.Time
	seq  uint64
	f    func()
}

// New returns a Clock whose Now is start.
func New(start time.Time) *Clock {
	return &Clock{now: start}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arranges for f to be called by the Advance that reaches Now()+d. A d <= 0 is
// due at once but, unlike time.AfterFunc, still waits for the next Advance (Advance(0)
// will do), because calling f here could deadlock a caller holding a lock f needs.
func (c *Clock) AfterFunc(d time.Duration, f func()) supervisor.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &timer{c: c, when: c.now.Add(max(d, 0)), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Stop cancels the timer and reports whether it was still waiting.
func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.c.remove(t)
}

// remove deletes t from the waiting timers. Callers hold c.mu.
func (c *Clock) remove(t *timer) bool {
	i := slices.Index(c.timers, t)
	if i < 0 {
		return false
	}
	c.timers = slices.Delete(c.timers, i, i+1)
	return true
}

// Advance moves the clock forward by d, calling each timer that becomes due in deadline
// order (creation order for equal deadlines). While a callback runs, Now() is that timer's
// deadline, and timers it creates that fall due within the span are called too. Callbacks
// run on the caller's goroutine without the clock's lock held, so they may use the clock.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(max(d, 0))
	for {
		t := c.next(target)
		if t == nil {
			break
		}
		c.remove(t)
		if t.when.After(c.now) {
			c.now = t.when
		}
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	if target.After(c.now) {
		c.now = target
	}
	c.mu.Unlock()
}

// next returns the earliest timer due by target, or nil. Callers hold c.mu.
func (c *Clock) next(target time.Time) *timer {
	var best *timer
	for _, t := range c.timers {
		if t.when.After(target) {
			continue
		}
		if best == nil || t.when.Before(best.when) || (t.when.Equal(best.when) && t.seq < best.seq) {
			best = t
		}
	}
	return best
}

// Pending returns the number of timers waiting.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Timers returns the time left on each waiting timer, shortest first, so a test can
// assert the delay a component scheduled.
func (c *Clock) Timers() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	ds := make([]time.Duration, len(c.timers))
	for i, t := range c.timers {
		ds[i] = t.when.Sub(c.now)
	}
	slices.Sort(ds)
	return ds
}
