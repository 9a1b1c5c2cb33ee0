package supervisor

import "time"

// Clock is the source of time for trackers and strategies. It is an interface so tests
// can substitute a fake clock (see package fakeclock) and never sleep.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a fake clock, from whoever advances
	// it) once d has elapsed, unless the returned Timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not happened yet. It reports whether it did so,
	// like time.Timer.Stop.
	Stop() bool
}

// SystemClock is the real clock: time.Now and time.AfterFunc. The zero value is ready
// to use.
type SystemClock struct{}

var _ Clock = SystemClock{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
