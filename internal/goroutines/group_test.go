package goroutines

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGroupWaitsForEveryGoroutine(t *testing.T) {
	var g Group
	require.NoError(t, g.Wait(context.Background()), "an empty group is idle")
	release := make(chan struct{})
	for range 3 {
		g.Go(func() { <-release })
	}
	require.Equal(t, 3, g.Running())
	short, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, g.Wait(short), context.DeadlineExceeded)
	// A goroutine added while others run is waited for too.
	g.Go(func() { <-release })
	close(release)
	require.NoError(t, g.Wait(context.Background()))
	require.Zero(t, g.Running())
}

func TestDispatcherRunsMailboxesInTheGroup(t *testing.T) {
	var g Group
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	got := make(chan int, 10)
	pid := system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if n, ok := c.Message().(int); ok {
			got <- n
		}
	}, actor.WithDispatcher(g.Dispatcher())))
	for i := range 10 {
		system.Root.Send(pid, i)
	}
	for i := range 10 {
		require.Equal(t, i, <-got)
	}
	require.NoError(t, system.Root.StopFuture(pid).Wait())
	require.NoError(t, g.Wait(context.Background()))
}
