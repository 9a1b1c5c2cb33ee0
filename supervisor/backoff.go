package supervisor

import (
	"math"
	"time"
)

// Defaults for Backoff, used by DefaultBackoff.
const (
	// DefaultInitial is the delay after the first failure.
	DefaultInitial = 500 * time.Millisecond
	// DefaultMultiplier doubles the delay after each further consecutive failure.
	DefaultMultiplier = 2.0
	// DefaultMax caps the delay, so a long outage is retried at least this often.
	DefaultMax = 30 * time.Second
	// DefaultJitter gives "equal jitter": the delay is uniform in (base/2, base].
	DefaultJitter = 0.5
)

// Backoff computes exponential backoff delays with jitter.
//
// Zero values are not replaced by defaults (use DefaultBackoff for those); they mean:
//   - Initial <= 0: every delay is 0 (restart at once).
//   - Multiplier < 1 (or NaN): treated as 1, a constant delay of Initial.
//   - Max <= 0: no cap; the delay saturates at the largest time.Duration instead.
//   - Jitter <= 0 (or NaN): no jitter; Jitter > 1 is treated as 1.
type Backoff struct {
	// Initial is the base delay for attempt 0.
	Initial time.Duration
	// Multiplier scales the base delay for each further attempt.
	Multiplier float64
	// Max caps the base delay.
	Max time.Duration
	// Jitter is the fraction, in [0,1], by which a delay may be shortened at random.
	// Jitter only ever shortens, so Max stays a true upper bound.
	Jitter float64
}

// DefaultBackoff returns 500ms, 1s, 2s, 4s, … capped at 30s, each shortened by up to half
// at random.
func DefaultBackoff() Backoff {
	return Backoff{
		Initial:    DefaultInitial,
		Multiplier: DefaultMultiplier,
		Max:        DefaultMax,
		Jitter:     DefaultJitter,
	}
}

// Delay returns the delay before retrying after the attempt-th consecutive failure
// (0-based; a negative attempt counts as 0). rnd is a random number in [0,1) and is
// clamped into [0,1]; passing it in keeps Delay pure and testable.
//
//	base  = min(Max, Initial·Multiplier^attempt)
//	delay = base · (1 − Jitter·rnd)
//
// The computation is done in float64 and saturates, so a huge attempt cannot overflow.
func (b Backoff) Delay(attempt int, rnd float64) time.Duration {
	if b.Initial <= 0 {
		return 0
	}
	return toDuration(b.base(attempt) * (1 - b.jitter()*clamp01(rnd)))
}

// base is the un-jittered delay for attempt, in nanoseconds (possibly > MaxInt64 when
// there is no cap; toDuration saturates it).
func (b Backoff) base(attempt int) float64 {
	if attempt < 0 {
		attempt = 0
	}
	mult := b.Multiplier
	if !(mult >= 1) { // also catches NaN
		mult = 1
	}
	// math.Pow returns +Inf rather than overflowing; min with Max tames it.
	base := float64(b.Initial) * math.Pow(mult, float64(attempt))
	if b.Max > 0 && base > float64(b.Max) {
		base = float64(b.Max)
	}
	return base
}

func (b Backoff) jitter() float64 {
	if !(b.Jitter > 0) { // also catches NaN
		return 0
	}
	return min(b.Jitter, 1)
}

func clamp01(x float64) float64 {
	if !(x > 0) { // also catches NaN
		return 0
	}
	return min(x, 1)
}

// toDuration converts nanoseconds to a Duration, saturating instead of overflowing.
func toDuration(ns float64) time.Duration {
	// float64(math.MaxInt64) rounds up to 2^63, so >= catches every value that would
	// overflow the conversion.
	if ns >= float64(math.MaxInt64) {
		return time.Duration(math.MaxInt64)
	}
	if !(ns > 0) {
		return 0
	}
	return time.Duration(ns)
}
