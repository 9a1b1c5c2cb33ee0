package socketscience

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/internal/protocol"
)

// These tests are internal: they make the router panic through its PID,
// which users never see.

const supervisionWait = 5 * time.Second

// bot0 is every node's account: a node trusts its own account's frames.
var bot0 = chatgateway.Identity{UserID: 1, UserName: "bot"}

// panickyDialer's first dial waits for release, then returns a connection
// whose Limits panics: the gateway actor calls it, so the actor panics.
type panickyDialer struct {
	chatgateway.Dialer
	release chan struct{}
	dials   atomic.Int32
	first   *panickyConn
}

type panickyConn struct {
	chatgateway.Conn
	closed atomic.Bool
}

func (c *panickyConn) Limits() chatgateway.Limits { panic("limits unknown") }

func (c *panickyConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

func (d *panickyDialer) Dial(ctx context.Context) (chatgateway.Conn, error) {
	if d.dials.Add(1) > 1 {
		return d.Dialer.Dial(ctx)
	}
	<-d.release
	conn, err := d.Dialer.Dial(ctx)
	if err != nil {
		return nil, err
	}
	d.first = &panickyConn{Conn: conn}
	return d.first, nil
}

// startNode starts a node logging to logs, which may be read once the node
// is closed.
func startNode(t *testing.T, d chatgateway.Dialer, logs *strings.Builder) *Node {
	t.Helper()
	n, err := New(d, WithLogger(zerolog.New(zerolog.SyncWriter(logs))))
	require.NoError(t, err)
	// The tests close the node themselves; this is for when they fail
	// first. No handler of theirs blocks, so Close cannot hang.
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	return n
}

func TestGatewayPanicRestartsTheGatewayKeepingTheQueue(t *testing.T) {
	room := memchat.NewRoom()
	d := &panickyDialer{Dialer: room.Member(bot0, "a"), release: make(chan struct{})}
	var logs strings.Builder
	n := startNode(t, d, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), supervisionWait)
	defer cancel()

	require.NoError(t, n.Post(ctx, "queued before the panic"))
	close(d.release)
	require.NoError(t, n.Flush(ctx))

	assert.Equal(t, int64(1), n.Stats().Posted, "the queue survives the restart")
	assert.Equal(t, int32(2), d.dials.Load())
	assert.True(t, d.first.closed.Load(), "the restart closes the connection the actor panicked on")
	assert.Zero(t, n.Stats().Restarts, "Restarts counts handler restarts only")
	require.NoError(t, n.Close(ctx))
	assert.Contains(t, logs.String(), `"actor":"gateway`)
	assert.Contains(t, logs.String(), `"message":"restarting gateway"`)
	assert.NotContains(t, logs.String(), "restarting handler")
}

func TestRouterPanicRestartsTheRouter(t *testing.T) {
	room := memchat.NewRoom()
	var logs strings.Builder
	n := startNode(t, room.Member(bot0, "a"), &logs)
	other := startNode(t, room.Member(bot0, "b"), &strings.Builder{})
	ctx, cancel := context.WithTimeout(context.Background(), supervisionWait)
	defer cancel()
	require.NoError(t, n.WaitConnected(ctx))
	require.NoError(t, other.WaitConnected(ctx))
	got := make(chan int, 1)
	_, err := Handle(n, "n", func(_ context.Context, v int) error {
		got <- v
		return nil
	})
	require.NoError(t, err)

	n.system.Root.Send(n.router.PID(), (*protocol.Inbound)(nil)) // route dereferences it
	require.NoError(t, other.Send(ctx, Payload{"n": 7}))
	select {
	case v := <-got:
		assert.Equal(t, 7, v, "the restarted router routes what waited for it")
	case <-ctx.Done():
		t.Fatal("nothing routed after the router's restart")
	}
	require.NoError(t, n.Close(ctx))

	assert.Contains(t, logs.String(), `"actor":"router`)
	assert.Contains(t, logs.String(), `"message":"restarting router"`)
	assert.NotContains(t, logs.String(), "restarting handler")
}
