package actors_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/actors"
	"github.com/socketscience/socketscience/supervisor"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
)

// recordingSupervisor is an actor.Supervisor that records what the strategy asks of it,
// so the strategy's bookkeeping can be tested without an actor system.
type recordingSupervisor struct {
	mu        sync.Mutex
	restarted []string
	stopped   []string
}

func (r *recordingSupervisor) Children() []*actor.PID             { return nil }
func (r *recordingSupervisor) EscalateFailure(_ any, _ any)       {}
func (r *recordingSupervisor) ResumeChildren(_ ...*actor.PID)     {}
func (r *recordingSupervisor) RestartChildren(pids ...*actor.PID) { r.add(&r.restarted, pids) }
func (r *recordingSupervisor) StopChildren(pids ...*actor.PID)    { r.add(&r.stopped, pids) }
func (r *recordingSupervisor) add(to *[]string, pids []*actor.PID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range pids {
		*to = append(*to, p.Id)
	}
}

func (r *recordingSupervisor) counts() (restarted, stopped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.restarted), len(r.stopped)
}

func pid(id string) *actor.PID { return actor.NewPID("nonhost", id) }

func TestStrategyZeroDelayRestartsAtOnce(t *testing.T) {
	clk := fakeclock.New(epoch)
	var events []actors.Failure
	s := actors.NewStrategy(supervisor.Policy{}, actors.WithStrategyClock(clk),
		actors.WithFailureHook(func(e actors.Failure) { events = append(events, e) }))
	sup := &recordingSupervisor{}
	s.HandleFailure(nil, sup, pid("c"), nil, "boom", nil)
	assert.Equal(t, []string{"c"}, sup.restarted)
	assert.Zero(t, clk.Pending())
	assert.Zero(t, s.Pending())
	require.Len(t, events, 1)
	assert.Equal(t, actors.Failure{Child: pid("c"), Reason: "boom", Attempt: 1}, events[0])
}

func TestStrategyDelaysAndTracksChildrenSeparately(t *testing.T) {
	clk := fakeclock.New(epoch)
	s := actors.NewStrategy(supervisor.Policy{Backoff: noJitter()}, actors.WithStrategyClock(clk), actors.WithStrategyRand(zero))
	sup := &recordingSupervisor{}
	s.HandleFailure(nil, sup, pid("a"), nil, "x", nil)
	clk.Advance(500 * time.Millisecond)
	s.HandleFailure(nil, sup, pid("a"), nil, "x", nil)
	s.HandleFailure(nil, sup, pid("b"), nil, "x", nil)
	assert.Equal(t, []time.Duration{500 * time.Millisecond, time.Second}, clk.Timers(), "b starts at attempt 0, a is on attempt 1")
	assert.Equal(t, 2, s.Pending())
	clk.Advance(time.Second)
	assert.Equal(t, []string{"a", "b", "a"}, sup.restarted)
	assert.Zero(t, s.Pending())
}

func TestStrategyStopCancelsAndStopsWaitingChildren(t *testing.T) {
	clk := fakeclock.New(epoch)
	var events []actors.Failure
	s := actors.NewStrategy(supervisor.Policy{Backoff: noJitter()}, actors.WithStrategyClock(clk),
		actors.WithFailureHook(func(e actors.Failure) { events = append(events, e) }))
	sup := &recordingSupervisor{}
	s.HandleFailure(nil, sup, pid("a"), nil, "x", nil)
	s.HandleFailure(nil, sup, pid("b"), nil, "y", nil)
	require.Equal(t, 2, s.Pending())

	s.Stop()
	assert.Zero(t, s.Pending())
	assert.Zero(t, clk.Pending(), "timers are cancelled on the clock too")
	assert.ElementsMatch(t, []string{"a", "b"}, sup.stopped)
	require.Len(t, events, 4)
	for _, e := range events[2:] {
		assert.True(t, e.GaveUp)
		assert.Equal(t, 1, e.Attempt)
	}

	clk.Advance(time.Hour)
	assert.Empty(t, sup.restarted)

	s.HandleFailure(nil, sup, pid("c"), nil, "z", nil)
	assert.Equal(t, []string{"c"}, sup.stopped[2:], "after Stop a failure stops the child at once")
	assert.Equal(t, actors.Failure{Child: pid("c"), Reason: "z", GaveUp: true}, events[4])
	s.Stop() // idempotent
}

func TestStrategyForgetsQuietChildren(t *testing.T) {
	clk := fakeclock.New(epoch)
	s := actors.NewStrategy(supervisor.Policy{
		Backoff: noJitter(), MaxFailures: 3, Window: time.Minute, ResetAfter: time.Minute,
	}, actors.WithStrategyClock(clk))
	sup := &recordingSupervisor{}
	// Many short-lived children each fail once, then are never heard of again.
	for i := range 100 {
		s.HandleFailure(nil, sup, pid(fmt.Sprintf("old-%d", i)), nil, "x", nil)
	}
	clk.Advance(2 * time.Minute)
	for i := range 30 {
		s.HandleFailure(nil, sup, pid(fmt.Sprintf("new-%d", i)), nil, "x", nil)
	}
	assert.Less(t, s.Tracked(), 40, "quiet children's state is dropped")
	assert.Equal(t, 30, s.Pending(), "children waiting for a restart are kept")
	clk.Advance(time.Hour)
	restarted, _ := sup.counts()
	assert.Equal(t, 130, restarted)
}

func TestStrategyConcurrentFailuresAndStop(t *testing.T) {
	clk := fakeclock.New(epoch)
	s := actors.NewStrategy(supervisor.DefaultPolicy(), actors.WithStrategyClock(clk))
	sup := &recordingSupervisor{}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				s.HandleFailure(nil, sup, pid(fmt.Sprintf("g%d-%d", g, i)), nil, "x", nil)
				_ = s.Pending()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			clk.Advance(10 * time.Second)
		}
	}()
	wg.Wait()
	s.Stop()
	assert.Zero(t, s.Pending())
	assert.Zero(t, clk.Pending())
	restarted, stopped := sup.counts()
	assert.Equal(t, 4*50, restarted+stopped, "every failure ends in exactly one restart or stop")
}
