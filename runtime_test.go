package socketscience_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Nodes on one Runtime talk as nodes on their own do; closing one leaves
// the others running; closing the runtime closes the rest, and it makes no
// more nodes.
func TestRuntimeSharedByNodes(t *testing.T) {
	rt, err := socketscience.NewRuntime()
	require.NoError(t, err)
	room := memchat.NewRoom()
	nodes := make([]*socketscience.Node, 3)
	for i := range nodes {
		nodes[i], err = rt.NewNode(room.Member(bot, fmt.Sprint(i)))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		require.NoError(t, nodes[i].WaitConnected(ctx))
		cancel()
	}
	got := collect[int](t, nodes[2], "n")
	require.NoError(t, nodes[0].Send(context.Background(), socketscience.Payload{"n": 1}))
	assert.Equal(t, 1, receive(t, got))

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, nodes[0].Close(ctx))
	require.NoError(t, nodes[1].Send(context.Background(), socketscience.Payload{"n": 2}))
	assert.Equal(t, 2, receive(t, got), "the others run on")

	require.NoError(t, rt.Close(ctx))
	assert.ErrorIs(t, nodes[2].Send(context.Background(), socketscience.Payload{"n": 3}), socketscience.ErrClosed)
	_, err = rt.NewNode(room.Member(bot, "late"))
	assert.ErrorIs(t, err, socketscience.ErrClosed)
	require.NoError(t, rt.Close(ctx), "again")
}

// WithQueueBytes bounds the queue by bytes.
func TestWithQueueBytes(t *testing.T) {
	room := memchat.NewRoom()
	member := room.Member(bot, "a")
	member.FailDials(1<<30, errors.New("network unreachable"))
	n, err := socketscience.New(member, socketscience.WithNonBlockingSend(), socketscience.WithQueueBytes(2<<20))
	require.NoError(t, err)
	big := strings.Repeat("q", 500<<10)
	accepted := 0
	for range 10 {
		if err := n.Send(context.Background(), socketscience.Payload{"blob": big}); err != nil {
			require.ErrorIs(t, err, socketscience.ErrQueueFull)
			break
		}
		accepted++
	}
	assert.Equal(t, 4, accepted, "2 MiB hold four 500 KiB payloads")
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	_ = n.Close(ctx)
}

// idleCost is the heap and goroutines that each of count idle, connected
// nodes adds: on one Runtime if shared, else each on its own (New).
func idleCost(t *testing.T, count int, shared bool) (heapPerNode float64, goroutinesPerNode float64) {
	t.Helper()
	rt, err := socketscience.NewRuntime()
	require.NoError(t, err)
	newNode := rt.NewNode
	if !shared {
		newNode = socketscience.New
	}
	room := memchat.NewRoom()
	members := make([]chatgateway.Dialer, count)
	for i := range members {
		members[i] = room.Member(bot, fmt.Sprint(i))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	nodes := make([]*socketscience.Node, count)
	for i := range nodes {
		nodes[i], err = newNode(members[i])
		require.NoError(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, n := range nodes {
		require.NoError(t, n.WaitConnected(ctx))
	}
	// Mailbox goroutines end once their actors are idle. (Polled by hand:
	// require.Eventually runs its condition on goroutines of its own.)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(wait); runtime.NumGoroutine()-g0 > 2*count && time.Now().Before(deadline); {
		<-tick.C
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	goroutines := runtime.NumGoroutine() - g0
	for _, n := range nodes {
		require.NoError(t, n.Close(ctx))
	}
	require.NoError(t, rt.Close(ctx))
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(count), float64(goroutines) / float64(count)
}

// An idle, connected node on a shared Runtime costs at most 64 KiB of heap
// and two goroutines (its connection's reader and writer). IDLE_FIGURES=1
// prints the table in BENCHMARKS.md for 1, 10, 100 and 1000 nodes.
func TestIdleNodeCost(t *testing.T) {
	counts := []int{100}
	if os.Getenv("IDLE_FIGURES") != "" {
		counts = []int{1, 10, 100, 1000}
	}
	for _, count := range counts {
		heap, goroutines := idleCost(t, count, true)
		t.Logf("| %d | %.0f KiB | %.2f |", count, heap/1024, goroutines)
		assert.LessOrEqual(t, heap, float64(64<<10), "heap per node, %d nodes", count)
		assert.LessOrEqual(t, goroutines, 2.0, "goroutines per node, %d nodes", count)
	}
	if os.Getenv("IDLE_FIGURES") != "" {
		heap, goroutines := idleCost(t, 10, false)
		t.Logf("| 10, each with New | %.0f KiB | %.2f |", heap/1024, goroutines)
	}
}
