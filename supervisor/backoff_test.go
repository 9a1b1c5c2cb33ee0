package supervisor_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/supervisor"
)

// justBelowOne is the largest float64 below 1, the top of rand.Float64's range.
var justBelowOne = math.Nextafter(1, 0)

func TestDefaultBackoff(t *testing.T) {
	assert.Equal(t, supervisor.Backoff{Initial: 500 * time.Millisecond, Multiplier: 2, Max: 30 * time.Second, Jitter: 0.5},
		supervisor.DefaultBackoff())
}

func TestDelayExponentialSequenceWithoutJitter(t *testing.T) {
	b := supervisor.DefaultBackoff()
	b.Jitter = 0
	want := []time.Duration{
		500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second,
	}
	for attempt, w := range want {
		assert.Equal(t, w, b.Delay(attempt, 0.7), "attempt %d", attempt)
	}
}

func TestDelayJitterBounds(t *testing.T) {
	b := supervisor.DefaultBackoff()
	for attempt, base := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 30 * time.Second} {
		if attempt == 3 {
			attempt = 40 // capped
		}
		assert.Equal(t, base, b.Delay(attempt, 0), "rnd=0 gives the base delay")
		assert.InDelta(t, float64(base)/2, float64(b.Delay(attempt, justBelowOne)), 1, "rnd->1 gives base*(1-Jitter)")
		assert.Equal(t, base*3/4, b.Delay(attempt, 0.5))
	}
	b.Jitter = 0.2
	assert.InDelta(t, float64(400*time.Millisecond), float64(b.Delay(0, justBelowOne)), 1)
}

func TestDelayClampsOutOfRangeInputs(t *testing.T) {
	b := supervisor.DefaultBackoff()
	assert.Equal(t, 500*time.Millisecond, b.Delay(-5, 0), "negative attempt counts as 0")
	assert.Equal(t, 500*time.Millisecond, b.Delay(0, -1), "rnd below 0 is clamped to 0")
	assert.Equal(t, 500*time.Millisecond, b.Delay(0, math.NaN()))
	assert.Equal(t, 250*time.Millisecond, b.Delay(0, 7), "rnd above 1 is clamped to 1")

	b.Jitter = 3 // more than 1 is treated as 1: never negative
	assert.Equal(t, time.Duration(0), b.Delay(0, 1))
	b.Jitter = math.NaN()
	assert.Equal(t, 500*time.Millisecond, b.Delay(0, 0.9))
}

func TestDelayZeroValueSemantics(t *testing.T) {
	assert.Zero(t, supervisor.Backoff{}.Delay(3, 0.5), "Initial 0 means restart at once")

	constant := supervisor.Backoff{Initial: time.Second, Multiplier: 0.5}
	assert.Equal(t, time.Second, constant.Delay(10, 0), "Multiplier < 1 is treated as 1")
	constant.Multiplier = math.NaN()
	assert.Equal(t, time.Second, constant.Delay(10, 0))

	uncapped := supervisor.Backoff{Initial: time.Second, Multiplier: 2}
	assert.Equal(t, 1024*time.Second, uncapped.Delay(10, 0), "Max 0 means no cap")
}

func TestDelayHugeAttemptDoesNotOverflow(t *testing.T) {
	b := supervisor.DefaultBackoff()
	for _, attempt := range []int{63, 64, 1000, math.MaxInt32, math.MaxInt} {
		assert.Equal(t, 30*time.Second, b.Delay(attempt, 0), "attempt %d", attempt)
		assert.Equal(t, 15*time.Second, b.Delay(attempt, 1), "attempt %d", attempt)
	}

	uncapped := supervisor.Backoff{Initial: time.Second, Multiplier: 2}
	assert.Equal(t, time.Duration(math.MaxInt64), uncapped.Delay(math.MaxInt, 0), "no cap saturates")
	assert.Equal(t, time.Duration(math.MaxInt64), uncapped.Delay(63, 0))
	assert.Positive(t, uncapped.Delay(math.MaxInt, justBelowOne))

	huge := supervisor.Backoff{Initial: time.Duration(math.MaxInt64), Multiplier: 1e300, Max: time.Duration(math.MaxInt64), Jitter: 0.5}
	assert.Equal(t, time.Duration(math.MaxInt64), huge.Delay(math.MaxInt, 0))
}

// Property: for any attempt and rnd in [0,1), the delay lies in [base*(1-J), base], where
// base = Delay(attempt, 0) never decreases with attempt and never exceeds Max.
func TestDelayPropertyWithinBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	backoffs := []supervisor.Backoff{
		supervisor.DefaultBackoff(),
		{Initial: 10 * time.Millisecond, Multiplier: 1.5, Max: time.Minute, Jitter: 0.25},
		{Initial: time.Nanosecond, Multiplier: 3, Max: time.Hour, Jitter: 1},
		{Initial: time.Second, Multiplier: 2, Jitter: 0.5}, // no cap
	}
	for _, b := range backoffs {
		prev := time.Duration(0)
		for attempt := range 200 {
			base := b.Delay(attempt, 0)
			require.GreaterOrEqual(t, base, prev, "%+v: base must not decrease (attempt %d)", b, attempt)
			if b.Max > 0 {
				require.LessOrEqual(t, base, b.Max, "%+v attempt %d", b, attempt)
			}
			prev = base
			lo := float64(base) * (1 - b.Jitter)
			for range 50 {
				rnd := r.Float64()
				d := b.Delay(attempt, rnd)
				require.LessOrEqual(t, d, base, "%+v attempt %d rnd %v", b, attempt, rnd)
				// 1ns slack for float rounding at the bottom of the range.
				require.GreaterOrEqual(t, float64(d), lo-1, "%+v attempt %d rnd %v", b, attempt, rnd)
			}
		}
	}
}
