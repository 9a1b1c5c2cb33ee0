package test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/supervisor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var bot = chatgateway.Identity{UserID: 1, UserName: "bot"}

// fastRestarts keeps 100 panics quick; the backoff maths are tested in
// supervisor with a fake clock.
func fastRestarts() supervisor.Policy {
	p := socketscience.DefaultHandlerPolicy()
	p.Backoff.Initial = 10 * time.Microsecond
	p.Backoff.Max = time.Millisecond
	return p
}

func connect(t *testing.T, room *memchat.Room, name string, opts ...socketscience.Option) *socketscience.Node {
	t.Helper()
	node, err := socketscience.New(room.Member(bot, name), opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, node.WaitConnected(ctx))
	return node
}

// A type whose callback blocks and a type whose callback panics on every
// payload do not delay a third type, which handles 1000 payloads in order
// while the blocked callback is still blocked.
func TestBlockedAndPanickingTypesDoNotDelayOthers(t *testing.T) {
	room := memchat.NewRoom()
	sender := connect(t, room, "sender")
	receiver := connect(t, room, "receiver", socketscience.WithHandlerPolicy(fastRestarts()))

	release := make(chan struct{})
	blocked := make(chan struct{}, 20) // room for every slow payload
	_, err := receiver.Register("slow", func(ctx context.Context, m socketscience.Message) error {
		blocked <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	require.NoError(t, err)
	_, err = socketscience.Handle(receiver, "boom", func(ctx context.Context, i int) error {
		panic(fmt.Sprintf("boom %d", i))
	})
	require.NoError(t, err)
	var mu sync.Mutex
	var got []int
	_, err = socketscience.Handle(receiver, "count", func(ctx context.Context, i int) error {
		mu.Lock()
		got = append(got, i)
		mu.Unlock()
		return nil
	})
	require.NoError(t, err)

	ctx := context.Background()
	require.NoError(t, sender.Send(ctx, socketscience.Payload{"slow": 0}))
	<-blocked
	for i := range 1000 {
		p := socketscience.Payload{"count": i}
		if i < 100 {
			p["boom"] = i // same frame: the panic must not cost "count" its copy
		}
		if i%100 == 0 {
			p["slow"] = i // queues behind the blocked callback
		}
		require.NoError(t, sender.Send(ctx, p))
	}

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1000
	}, 10*time.Second, time.Millisecond, "count type stalled")
	mu.Lock()
	for i, v := range got {
		require.Equal(t, i, v, "count payloads out of order")
	}
	mu.Unlock()
	select {
	case <-blocked:
		t.Fatal("the slow callback ran again; it should still be blocked")
	default:
	}
	require.Eventually(t, func() bool { return receiver.Stats().HandlerPanics == 100 }, 10*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return receiver.Stats().Restarts == 100 }, 10*time.Second, time.Millisecond)

	close(release)
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	assert.NoError(t, sender.Close(closeCtx))
	assert.NoError(t, receiver.Close(closeCtx))
	st := receiver.Stats()
	assert.Equal(t, int64(1000+11), st.Delivered, "count 1000 + slow 11")
	assert.Empty(t, st.Dropped)
}
