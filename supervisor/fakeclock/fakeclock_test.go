package fakeclock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/socketscience/socketscience/supervisor/fakeclock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var start = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func TestNowAndAdvance(t *testing.T) {
	c := fakeclock.New(start)
	assert.Equal(t, start, c.Now())
	c.Advance(time.Second)
	assert.Equal(t, start.Add(time.Second), c.Now())
	c.Advance(-time.Hour) // time never goes backwards
	assert.Equal(t, start.Add(time.Second), c.Now())
}

func TestTimersFireInDeadlineOrderAtTheirDeadline(t *testing.T) {
	c := fakeclock.New(start)
	var got []string
	var at []time.Time
	rec := func(name string) func() {
		return func() { got = append(got, name); at = append(at, c.Now()) }
	}
	c.AfterFunc(3*time.Second, rec("3s"))
	c.AfterFunc(time.Second, rec("1s-a"))
	c.AfterFunc(2*time.Second, rec("2s"))
	c.AfterFunc(time.Second, rec("1s-b"))
	assert.Equal(t, []time.Duration{time.Second, time.Second, 2 * time.Second, 3 * time.Second}, c.Timers())
	assert.Equal(t, 4, c.Pending())

	c.Advance(999 * time.Millisecond)
	assert.Empty(t, got)
	c.Advance(1001 * time.Millisecond) // now start+2s
	assert.Equal(t, []string{"1s-a", "1s-b", "2s"}, got)
	assert.Equal(t, []time.Time{start.Add(time.Second), start.Add(time.Second), start.Add(2 * time.Second)}, at)
	assert.Equal(t, []time.Duration{time.Second}, c.Timers())
	assert.Equal(t, start.Add(2*time.Second), c.Now())

	c.Advance(time.Hour)
	assert.Equal(t, []string{"1s-a", "1s-b", "2s", "3s"}, got)
	assert.Zero(t, c.Pending())
}

func TestStop(t *testing.T) {
	c := fakeclock.New(start)
	fired := false
	tm := c.AfterFunc(time.Second, func() { fired = true })
	assert.True(t, tm.Stop())
	assert.False(t, tm.Stop(), "second Stop reports the timer was no longer waiting")
	assert.Zero(t, c.Pending())
	c.Advance(time.Minute)
	assert.False(t, fired)

	tm = c.AfterFunc(time.Second, func() {})
	c.Advance(time.Second)
	assert.False(t, tm.Stop(), "Stop after firing")
}

func TestCallbacksMayUseTheClockAndChainWithinTheSpan(t *testing.T) {
	c := fakeclock.New(start)
	var times []time.Duration
	var tick func()
	tick = func() {
		times = append(times, c.Now().Sub(start))
		c.AfterFunc(time.Second, tick) // re-arms, as a backoff loop would
	}
	c.AfterFunc(time.Second, tick)
	c.Advance(3500 * time.Millisecond)
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}, times)
	assert.Equal(t, []time.Duration{500 * time.Millisecond}, c.Timers())
}

func TestCallbackCanStopAnotherTimer(t *testing.T) {
	c := fakeclock.New(start)
	fired := false
	later := c.AfterFunc(2*time.Second, func() { fired = true })
	c.AfterFunc(time.Second, func() { assert.True(t, later.Stop()) })
	c.Advance(time.Minute)
	assert.False(t, fired)
}

func TestZeroDelayWaitsForAdvance(t *testing.T) {
	c := fakeclock.New(start)
	fired := false
	c.AfterFunc(0, func() { fired = true })
	assert.False(t, fired)
	assert.Equal(t, []time.Duration{0}, c.Timers())
	c.Advance(0)
	assert.True(t, fired)
}

func TestConcurrentUse(t *testing.T) {
	c := fakeclock.New(start)
	var mu sync.Mutex
	fired := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				tm := c.AfterFunc(time.Duration(i)*time.Millisecond, func() {
					mu.Lock()
					fired++
					mu.Unlock()
				})
				if i%2 == 1 {
					tm.Stop()
				}
				_ = c.Now()
				_ = c.Timers()
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 8*50, c.Pending())
	c.Advance(time.Second)
	assert.Equal(t, 8*50, fired)
	assert.Zero(t, c.Pending())
}
