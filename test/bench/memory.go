package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
)

func heapNow() (heap uint64, goroutines int) {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, runtime.NumGoroutine()
}

type memResult struct {
	perType, goroutinesPerType float64
	perNode, goroutinesPerNode float64
	// perShared, goroutinesPerShared: idle nodes on one
	// socketscience.Runtime, for each count of sharedCounts
	perShared, goroutinesPerShared []float64
	baseNode                       float64 // heap of the node the types were registered on
}

func measureMemory(types, nodes int, sharedCounts []int) (memResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var res memResult
	room := memchat.NewRoom()
	h0, _ := heapNow()
	n, err := socketscience.New(room.Member(bot, "types"))
	if err != nil {
		return res, err
	}
	defer n.Close(context.Background())
	if err := n.WaitConnected(ctx); err != nil {
		return res, err
	}
	h1, g1 := heapNow()
	res.baseNode = float64(h1) - float64(h0)
	noop := func(context.Context, socketscience.Message) error { return nil }
	for i := range types {
		if _, err := n.Register(fmt.Sprintf("type-%05d", i), noop); err != nil {
			return res, err
		}
	}
	h2, g2 := heapNow()
	res.perType = (float64(h2) - float64(h1)) / float64(types)
	res.goroutinesPerType = float64(g2-g1) / float64(types)

	if res.perNode, res.goroutinesPerNode, err = idleNodes(ctx, room, "idle", nodes, socketscience.New); err != nil {
		return res, err
	}
	for _, count := range sharedCounts {
		rt, err := socketscience.NewRuntime()
		if err != nil {
			return res, err
		}
		heap, goroutines, err := idleNodes(ctx, room, fmt.Sprintf("shared%d-", count), count, rt.NewNode)
		_ = rt.Close(context.Background())
		if err != nil {
			return res, err
		}
		res.perShared, res.goroutinesPerShared = append(res.perShared, heap), append(res.goroutinesPerShared, goroutines)
	}
	return res, nil
}

// idleNodes connects count idle nodes made by newNode and returns the heap
// and goroutines each adds.
func idleNodes(ctx context.Context, room *memchat.Room, name string, count int,
	newNode func(chatgateway.Dialer, ...socketscience.Option) (*socketscience.Node, error)) (heap, goroutines float64, err error) {
	h0, g0 := heapNow()
	idle := make([]*socketscience.Node, count)
	defer func() {
		for _, x := range idle {
			if x != nil {
				_ = x.Close(context.Background())
			}
		}
	}()
	for i := range idle {
		if idle[i], err = newNode(room.Member(bot, fmt.Sprintf("%s%d", name, i))); err != nil {
			return 0, 0, err
		}
	}
	for _, x := range idle {
		if err := x.WaitConnected(ctx); err != nil {
			return 0, 0, err
		}
	}
	h1, g1 := heapNow()
	return (float64(h1) - float64(h0)) / float64(count), float64(g1-g0) / float64(count), nil
}

func runMemory(_ context.Context, cfg config, _ *machine) (*section, error) {
	types, nodes, shared := 10_000, 20, []int{1, 10, 100, 1000}
	if cfg.quick {
		types, nodes, shared = 1000, 5, []int{1, 10}
	}
	if _, err := measureMemory(100, 2, []int{2}); err != nil { // warm-up
		return nil, err
	}
	var pt, gt, pn, gn []float64
	ps, gs := make([][]float64, len(shared)), make([][]float64, len(shared))
	for range cfg.rounds {
		r, err := measureMemory(types, nodes, shared)
		if err != nil {
			return nil, err
		}
		pt, gt, pn, gn = append(pt, r.perType), append(gt, r.goroutinesPerType), append(pn, r.perNode), append(gn, r.goroutinesPerNode)
		for i := range shared {
			ps[i], gs[i] = append(ps[i], r.perShared[i]), append(gs[i], r.goroutinesPerShared[i])
		}
	}
	pts := spreadOf(pt)
	s := &section{
		Title: "5. Memory",
		What: fmt.Sprintf("Live heap (runtime.MemStats.HeapAlloc after GC) and goroutines added by registering %d types (a no-op callback each) "+
			"on one connected node, by %d idle nodes connected to a memchat room each on its own runtime (New), and by %v idle "+
			"nodes all on one Runtime (Runtime.NewNode), divided by the count. One number per round, no compared side.", types, nodes, shared),
		Target: "< 2 KB heap per idle registered type",
		Header: []string{"", "heap", "goroutines"},
		Rows: [][]string{
			{"per registered type", fmtSpread(pts, fmtBytes), fmtSpread(spreadOf(gt), fmtNum)},
			{"per idle node, New (a runtime each)", fmtSpread(spreadOf(pn), fmtBytes), fmtSpread(spreadOf(gn), fmtNum)},
		},
	}
	for i, count := range shared {
		s.Rows = append(s.Rows, []string{fmt.Sprintf("per idle node, %d on one shared Runtime", count),
			fmtSpread(spreadOf(ps[i]), fmtBytes), fmtSpread(spreadOf(gs[i]), fmtNum)})
	}
	s.Notes = append(s.Notes, "A node made with New has an ActorSystem of its own, whose ProcessRegistry preallocates a sharded map "+
		"(actor.newSliceMap → 1024 × orcaman/concurrent-map.New), about 2.7 MiB. Nodes made with one Runtime's NewNode share it: "+
		"what is left per node is its actors, connection and the router's dedup rings (~50 KiB). The two goroutines are the "+
		"connection's reader and writer. TestIdleNodeCost checks the shared figure (≤ 256 KiB, ≤ 2 goroutines) for 100 nodes; "+
		"IDLE_FIGURES=1 go test -run TestIdleNodeCost -v . prints it for 1, 10, 100 and 1000 nodes.")
	s.Met = yes(pts.Med < 2000)
	if !*s.Met {
		s.Notes = append(s.Notes, "Not met: each registered type costs a protoactor actor (its PID, process registry entry, mailbox "+
			"with its queues, and the supervisor's bookkeeping) plus the router's map entries.")
	}
	return s, nil
}
