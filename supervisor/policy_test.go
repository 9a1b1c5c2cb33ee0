package supervisor_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/supervisor"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
)

var epoch = time.Date(2024, 8, 22, 20, 23, 45, 0, time.UTC)

func zero() float64 { return 0 }

// noJitter is the default backoff without jitter, so delays are exact.
func noJitter() supervisor.Backoff {
	b := supervisor.DefaultBackoff()
	b.Jitter = 0
	return b
}

func TestDefaultPolicy(t *testing.T) {
	assert.Equal(t, supervisor.Policy{
		Backoff:     supervisor.DefaultBackoff(),
		MaxFailures: 10,
		Window:      time.Minute,
		ResetAfter:  time.Minute,
	}, supervisor.DefaultPolicy())
}

func TestTrackerBacksOffExponentially(t *testing.T) {
	clk := fakeclock.New(epoch)
	tr := supervisor.Policy{Backoff: supervisor.DefaultBackoff()}.NewTracker(clk, func() float64 { return 0.5 })
	assert.Zero(t, tr.Attempt())
	for i, want := range []time.Duration{375 * time.Millisecond, 750 * time.Millisecond, 1500 * time.Millisecond} {
		d, giveUp := tr.Failed()
		assert.False(t, giveUp)
		assert.Equal(t, want, d)
		assert.Equal(t, i+1, tr.Attempt())
		clk.Advance(d)
	}
}

func TestTrackerGivesUpAfterMaxFailuresWithinWindow(t *testing.T) {
	clk := fakeclock.New(epoch)
	tr := supervisor.Policy{Backoff: noJitter(), MaxFailures: 3, Window: time.Minute}.NewTracker(clk, zero)

	for i := range 3 {
		d, giveUp := tr.Failed()
		require.False(t, giveUp, "failure %d of 3 is tolerated", i+1)
		require.Positive(t, d)
		clk.Advance(time.Second)
	}
	d, giveUp := tr.Failed()
	assert.True(t, giveUp, "failure 4 within the window gives up")
	assert.Zero(t, d)
	_, giveUp = tr.Failed()
	assert.True(t, giveUp, "stays given up while failures are within the window")
	assert.LessOrEqual(t, tr.StoredFailures(), 4)

	// Once the burst ages out of the window, failures are tolerated again.
	clk.Advance(time.Minute)
	_, giveUp = tr.Failed()
	assert.False(t, giveUp)

	tr.Reset()
	assert.Zero(t, tr.Attempt())
	assert.Zero(t, tr.StoredFailures())
	d, giveUp = tr.Failed()
	assert.False(t, giveUp)
	assert.Equal(t, 500*time.Millisecond, d, "Reset starts the backoff over")
}

func TestTrackerWindowBoundary(t *testing.T) {
	clk := fakeclock.New(epoch)
	tr := supervisor.Policy{Backoff: noJitter(), MaxFailures: 1, Window: time.Minute}.NewTracker(clk, zero)
	_, giveUp := tr.Failed()
	require.False(t, giveUp)
	clk.Advance(time.Minute)
	_, giveUp = tr.Failed()
	assert.False(t, giveUp, "a failure exactly Window ago no longer counts")
	clk.Advance(time.Minute - time.Nanosecond)
	_, giveUp = tr.Failed()
	assert.True(t, giveUp, "one just inside Window does")
}

func TestTrackerSpreadFailuresNeverGiveUpAndMemoryStaysBounded(t *testing.T) {
	clk := fakeclock.New(epoch)
	tr := supervisor.Policy{Backoff: noJitter(), MaxFailures: 3, Window: time.Minute}.NewTracker(clk, zero)
	for i := range 10000 {
		_, giveUp := tr.Failed()
		require.False(t, giveUp, "failure %d", i)
		require.LessOrEqual(t, tr.StoredFailures(), 3, "only failures inside the window are kept")
		clk.Advance(21 * time.Second) // at most 3 failures in any minute
	}
	assert.LessOrEqual(t, tr.StoredCap(), 2*4, "nor does the backing array (append rounds up)")
}

func TestTrackerMemoryBoundedWithoutWindow(t *testing.T) {
	clk := fakeclock.New(epoch)
	// Window 0: failures never age out, yet only MaxFailures+1 times are ever kept.
	tr := supervisor.Policy{Backoff: noJitter(), MaxFailures: 5}.NewTracker(clk, zero)
	for i := range 1000 {
		_, giveUp := tr.Failed()
		require.Equal(t, i >= 5, giveUp, "failure %d", i+1)
		require.LessOrEqual(t, tr.StoredFailures(), 6)
		clk.Advance(time.Hour)
	}
	assert.LessOrEqual(t, tr.StoredCap(), 2*6)

	// MaxFailures 0: never give up, and no failure times are kept at all.
	never := supervisor.Policy{Backoff: noJitter(), Window: time.Minute}.NewTracker(clk, zero)
	for range 1000 {
		_, giveUp := never.Failed()
		require.False(t, giveUp)
	}
	assert.Zero(t, never.StoredFailures())
	assert.Equal(t, 1000, never.Attempt())
}

func TestTrackerResetAfterQuiet(t *testing.T) {
	clk := fakeclock.New(epoch)
	tr := supervisor.Policy{Backoff: noJitter(), ResetAfter: time.Minute}.NewTracker(clk, zero)
	for range 3 {
		tr.Failed()
		clk.Advance(time.Second)
	}
	assert.Equal(t, 3, tr.Attempt())

	clk.Advance(58 * time.Second) // 59s since the last failure
	assert.Equal(t, 3, tr.Attempt())
	d, _ := tr.Failed()
	assert.Equal(t, 4*time.Second, d, "59s of quiet is not enough")

	clk.Advance(time.Minute)
	assert.Zero(t, tr.Attempt(), "ResetAfter of quiet: the next failure starts over")
	d, _ = tr.Failed()
	assert.Equal(t, 500*time.Millisecond, d)
	assert.Equal(t, 1, tr.Attempt())
}

func TestTrackerNoResetAfterMeansNoTimedReset(t *testing.T) {
	clk := fakeclock.New(epoch)
	tr := supervisor.Policy{Backoff: noJitter()}.NewTracker(clk, zero)
	tr.Failed()
	clk.Advance(24 * time.Hour)
	assert.Equal(t, 1, tr.Attempt())
	d, _ := tr.Failed()
	assert.Equal(t, time.Second, d)
}

// With the defaults, the backoff spaces failures out so far that more than 10 never fit
// in a minute: something that fails right after every restart is retried about every 30s
// for ever. This pins down that documented consequence of the defaults.
func TestDefaultPolicyRetriesForever(t *testing.T) {
	clk := fakeclock.New(epoch)
	tr := supervisor.DefaultPolicy().NewTracker(clk, nil)
	for i := range 1000 {
		d, giveUp := tr.Failed()
		require.False(t, giveUp, "failure %d", i+1)
		require.LessOrEqual(t, d, supervisor.DefaultMax)
		require.Positive(t, d)
		clk.Advance(d)
	}
	assert.LessOrEqual(t, tr.StoredFailures(), supervisor.DefaultMaxFailures+1)
}

func TestTrackerNilArgumentsUseDefaults(t *testing.T) {
	tr := supervisor.DefaultPolicy().NewTracker(nil, nil)
	d, giveUp := tr.Failed()
	assert.False(t, giveUp)
	assert.Greater(t, d, supervisor.DefaultInitial/2)
	assert.LessOrEqual(t, d, supervisor.DefaultInitial)
}

func TestTrackerConcurrentUse(t *testing.T) {
	clk := fakeclock.New(epoch)
	tr := supervisor.Policy{Backoff: supervisor.DefaultBackoff(), MaxFailures: 5, Window: time.Second, ResetAfter: time.Hour}.NewTracker(clk, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				tr.Failed()
				_ = tr.Attempt()
				clk.Advance(time.Second)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 800, tr.Attempt())
	assert.LessOrEqual(t, tr.StoredFailures(), 6)
}
