package actors_test

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/actors"
	"github.com/socketscience/socketscience/supervisor"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
)

// epoch is the fake clocks' start.
var epoch = time.Date(2024, 8, 22, 20, 23, 45, 0, time.UTC)

func zero() float64 { return 0 }

// noJitter is the default backoff without jitter, so delays are exact.
func noJitter() supervisor.Backoff {
	b := supervisor.DefaultBackoff()
	b.Jitter = 0
	return b
}

// waitFor bounds every wait for an asynchronous effect; it is a deadline, not a sleep.
const waitFor = 5 * time.Second

// family is a parent actor supervised by a Strategy on a fake clock, with two children,
// "a" and "b". A child panics on the message "boom" and reports every other string it
// processes, and every start, on channels.
type family struct {
	t          *testing.T
	system     *actor.ActorSystem
	clock      *fakeclock.Clock
	strategy   *actors.Strategy
	parent     *actor.PID
	a, b       *actor.PID
	events     chan actors.Failure
	started    chan string // child name, on every start and restart
	processed  chan string // "name:message"
	terminated chan string // child id, as seen by the parent
	// deadLetters counts messages that reached no actor: the strategy must not post
	// restarts or stops to children that are gone.
	deadLetters atomic.Int32
	stopParent  func()
}

func newFamily(t *testing.T, p supervisor.Policy, rnd float64) *family {
	t.Helper()
	f := &family{
		t:          t,
		system:     actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) })),
		clock:      fakeclock.New(epoch),
		events:     make(chan actors.Failure, 100),
		started:    make(chan string, 100),
		processed:  make(chan string, 100),
		terminated: make(chan string, 100),
	}
	f.strategy = actors.NewStrategy(p,
		actors.WithStrategyClock(f.clock),
		actors.WithStrategyRand(func() float64 { return rnd }),
		actors.WithFailureHook(func(e actors.Failure) { f.events <- e }),
	)

	childProps := func(name string) *actor.Props {
		return actor.PropsFromFunc(func(ctx actor.Context) {
			switch m := ctx.Message().(type) {
			case *actor.Started:
				f.started <- name
			case string:
				if m == "boom" {
					panic("boom in " + name)
				}
				f.processed <- name + ":" + m
			}
		})
	}
	kids := make(chan [2]*actor.PID, 1)
	parentProps := actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			a, err := ctx.SpawnNamed(childProps("a"), "a")
			require.NoError(t, err)
			b, err := ctx.SpawnNamed(childProps("b"), "b")
			require.NoError(t, err)
			kids <- [2]*actor.PID{a, b}
		case *actor.Terminated:
			f.terminated <- m.Who.Id
		}
	}, actor.WithSupervisor(f.strategy))

	f.system.EventStream.Subscribe(func(evt any) {
		if _, ok := evt.(*actor.DeadLetterEvent); ok {
			f.deadLetters.Add(1)
		}
	})
	f.parent = f.system.Root.Spawn(parentProps)
	pids := recv(t, kids)
	f.a, f.b = pids[0], pids[1]
	assert.ElementsMatch(t, []string{"a", "b"}, []string{recv(t, f.started), recv(t, f.started)})

	f.stopParent = sync.OnceFunc(func() {
		_, err := f.system.Root.StopFuture(f.parent).Result()
		assert.NoError(t, err)
	})
	t.Cleanup(func() {
		// Shutdown stops nothing in protoactor, so stop the tree (the parent stops its
		// children first) and then cancel the timers of restarts that will never be needed.
		f.stopParent()
		f.strategy.Stop()
		f.system.Shutdown()
		assert.Zero(t, f.deadLetters.Load(), "dead letters")
	})
	return f
}

// recv waits for one value from ch, failing the test after waitFor.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		var zero T
		require.FailNow(t, "timed out waiting for an asynchronous effect")
		return zero
	}
}

// assertNothing checks that nothing has arrived on ch. It is only meaningful where the
// effect could not be in flight, which the callers establish first.
func assertNothing[T any](t *testing.T, ch <-chan T, msg string) {
	t.Helper()
	select {
	case v := <-ch:
		assert.Fail(t, msg, "got %v", v)
	default:
	}
}

// fail makes child panic and returns the strategy's decision.
func (f *family) fail(child *actor.PID, then ...string) actors.Failure {
	f.t.Helper()
	f.system.Root.Send(child, "boom")
	for _, m := range then {
		f.system.Root.Send(child, m)
	}
	e := recv(f.t, f.events)
	require.Equal(f.t, child.Id, e.Child.Id)
	assert.Equal(f.t, "boom in "+child.Id[len(f.parent.Id)+1:], e.Reason)
	return e
}

func testPolicy() supervisor.Policy {
	return supervisor.Policy{
		Backoff:     supervisor.DefaultBackoff(),
		MaxFailures: 10,
		Window:      time.Minute,
		ResetAfter:  time.Minute,
	}
}

func TestStrategyRestartsAfterTheDelayKeepingQueuedMessages(t *testing.T) {
	// rnd 0.5 with Jitter 0.5: each delay is exactly 3/4 of the base.
	f := newFamily(t, testPolicy(), 0.5)

	e := f.fail(f.a, "m1", "m2", "m3")
	assert.Equal(t, actors.Failure{Child: e.Child, Reason: e.Reason, Attempt: 1, Delay: 375 * time.Millisecond}, e)
	assert.Equal(t, []time.Duration{375 * time.Millisecond}, f.clock.Timers())
	assert.Equal(t, 1, f.strategy.Pending())

	// The sibling is unaffected while a waits.
	f.system.Root.Send(f.b, "x")
	assert.Equal(t, "b:x", recv(t, f.processed))

	// Not a moment early: the timer is still waiting, so no restart was requested.
	f.clock.Advance(374 * time.Millisecond)
	assert.Equal(t, 1, f.strategy.Pending())
	assert.Equal(t, []time.Duration{time.Millisecond}, f.clock.Timers())
	assertNothing(t, f.started, "a restarted before its delay")
	assertNothing(t, f.processed, "a processed a message while suspended")

	f.clock.Advance(time.Millisecond)
	assert.Zero(t, f.strategy.Pending())
	assert.Equal(t, "a", recv(t, f.started))
	// Everything queued behind the panicking message survives, in order.
	assert.Equal(t, []string{"a:m1", "a:m2", "a:m3"}, []string{recv(t, f.processed), recv(t, f.processed), recv(t, f.processed)})

	// Consecutive failures double the delay.
	for i, want := range []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second} {
		e := f.fail(f.a)
		assert.Equal(t, i+2, e.Attempt)
		assert.Equal(t, want, e.Delay)
		assert.Equal(t, []time.Duration{want}, f.clock.Timers())
		f.clock.Advance(want)
		assert.Equal(t, "a", recv(t, f.started))
	}
	f.system.Root.Send(f.a, "still alive")
	assert.Equal(t, "a:still alive", recv(t, f.processed))
	assertNothing(t, f.terminated, "no child was stopped")
}

func TestStrategyBackoffStartsOverAfterQuiet(t *testing.T) {
	f := newFamily(t, testPolicy(), 0)
	for _, want := range []time.Duration{500 * time.Millisecond, time.Second} {
		e := f.fail(f.a)
		require.Equal(t, want, e.Delay)
		f.clock.Advance(want)
		recv(t, f.started)
	}
	f.clock.Advance(time.Minute)
	e := f.fail(f.a)
	assert.Equal(t, 1, e.Attempt)
	assert.Equal(t, 500*time.Millisecond, e.Delay)
}

func TestStrategyGivesUpAfterMaxFailures(t *testing.T) {
	p := testPolicy()
	p.MaxFailures = 2
	f := newFamily(t, p, 0)

	for _, want := range []time.Duration{500 * time.Millisecond, time.Second} {
		e := f.fail(f.a)
		require.False(t, e.GaveUp)
		require.Equal(t, want, e.Delay)
		f.clock.Advance(want)
		require.Equal(t, "a", recv(t, f.started))
	}

	e := f.fail(f.a) // a message sent after it could reach the stopped child as a dead letter
	assert.True(t, e.GaveUp)
	assert.Equal(t, 3, e.Attempt)
	assert.Zero(t, e.Delay)
	assert.Equal(t, f.a.Id, recv(t, f.terminated), "the parent sees the child stop")
	assert.Zero(t, f.strategy.Pending())
	assert.Empty(t, f.clock.Timers())

	// Its sibling carries on.
	f.system.Root.Send(f.b, "y")
	assert.Equal(t, "b:y", recv(t, f.processed))
}

func TestStrategyStopCancelsPendingRestarts(t *testing.T) {
	f := newFamily(t, testPolicy(), 0)

	e := f.fail(f.a, "queued")
	require.Equal(t, 500*time.Millisecond, e.Delay)
	require.Equal(t, 1, f.strategy.Pending())

	f.strategy.Stop()
	assert.Zero(t, f.strategy.Pending())
	assert.Zero(t, f.clock.Pending())
	stopped := recv(t, f.events)
	assert.True(t, stopped.GaveUp)
	assert.Equal(t, f.a.Id, stopped.Child.Id)
	assert.Equal(t, f.a.Id, recv(t, f.terminated), "a waiting child is stopped, not left suspended")

	// After Stop, a failure stops the child at once.
	e = f.fail(f.b)
	assert.True(t, e.GaveUp)
	assert.Equal(t, f.b.Id, recv(t, f.terminated))

	f.clock.Advance(time.Hour)
	assertNothing(t, f.started, "nothing restarts after Stop")
	assertNothing(t, f.processed, "the stopped children processed nothing more")
}

func TestStrategyWaitingChildStoppedWithItsParent(t *testing.T) {
	f := newFamily(t, testPolicy(), 0)
	e := f.fail(f.a, "queued")
	require.Equal(t, 500*time.Millisecond, e.Delay)

	// The parent stops while a waits: a is stopped with it (system messages still reach
	// a suspended mailbox), and its restart becomes moot.
	f.stopParent()
	f.clock.Advance(time.Second)
	assert.Zero(t, f.strategy.Pending())
	f.strategy.Stop()
	assertNothing(t, f.events, "a child that is already gone is not reported as stopped")
	assertNothing(t, f.started, "nothing restarted")
	// The cleanup checks that no restart or stop was posted to the dead child.
}

func TestStrategySharedBetweenParents(t *testing.T) {
	// One Strategy value in two parents' props: children are tracked by their own ids.
	f := newFamily(t, testPolicy(), 0)
	otherChild := make(chan *actor.PID, 1)
	otherStarted := make(chan struct{}, 10)
	other := actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			pid, err := ctx.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
				switch ctx.Message().(type) {
				case *actor.Started:
					otherStarted <- struct{}{}
				case string:
					panic("boom in other")
				}
			}), "a") // same name as f.a, different parent
			require.NoError(t, err)
			otherChild <- pid
		}
	}, actor.WithSupervisor(f.strategy))
	p2 := f.system.Root.Spawn(other)
	defer func() {
		_, err := f.system.Root.StopFuture(p2).Result()
		assert.NoError(t, err)
	}()
	a2 := recv(t, otherChild)
	recv(t, otherStarted)

	e := f.fail(f.a)
	require.Equal(t, 500*time.Millisecond, e.Delay)
	f.clock.Advance(500 * time.Millisecond)
	assert.Equal(t, "a", recv(t, f.started))
	e = f.fail(f.a)
	require.Equal(t, time.Second, e.Delay)
	f.clock.Advance(time.Second)
	assert.Equal(t, "a", recv(t, f.started))

	f.system.Root.Send(a2, "boom")
	e2 := recv(t, f.events)
	assert.Equal(t, a2.Id, e2.Child.Id)
	assert.Equal(t, 1, e2.Attempt, "a different child starts at attempt 0")
	assert.Equal(t, 500*time.Millisecond, e2.Delay)
	f.clock.Advance(500 * time.Millisecond)
	recv(t, otherStarted)
	assert.Zero(t, f.strategy.Pending())
}

// A parent whose children are restarted with backoff. The fake clock and fixed rnd only
// make the output predictable; in production use NewStrategy(DefaultPolicy()).
func Example() {
	clock := fakeclock.New(time.Time{})
	events := make(chan actors.Failure, 10)
	strategy := actors.NewStrategy(supervisor.DefaultPolicy(),
		actors.WithStrategyClock(clock),
		actors.WithStrategyRand(func() float64 { return 0 }),
		actors.WithFailureHook(func(e actors.Failure) { events <- e }), // e.g. log and count
	)

	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	started := make(chan struct{}, 10)
	parent := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			child := ctx.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
				switch ctx.Message().(type) {
				case *actor.Started:
					started <- struct{}{}
				case string:
					panic("handler bug")
				}
			}))
			ctx.Send(child, "boom")
		}
	}, actor.WithSupervisor(strategy)))
	defer func() {
		// protoactor's Shutdown stops no actors and cancels no timers: do both.
		_ = system.Root.StopFuture(parent).Wait()
		strategy.Stop()
	}()

	<-started
	e := <-events
	fmt.Printf("failed (%v): attempt %d, restart in %v\n", e.Reason, e.Attempt, e.Delay)
	clock.Advance(e.Delay)
	<-started
	fmt.Println("restarted")
	// Output:
	// failed (handler bug): attempt 1, restart in 500ms
	// restarted
}
