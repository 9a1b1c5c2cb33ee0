// Package goroutines tracks the goroutines a node owns, including the ones
// protoactor starts to run mailboxes, so that Close can wait for all of them.
package goroutines

import (
	"context"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// Group counts running goroutines. Unlike sync.WaitGroup it may be waited on
// while new goroutines are still being added, which happens when a mailbox is
// scheduled during shutdown.
type Group struct {
	mu      sync.Mutex
	running int
	idle    chan struct{} // closed while running == 0; replaced when work starts
}

// Go runs f in a new goroutine counted by g.
func (g *Group) Go(f func()) {
	g.mu.Lock()
	if g.idle == nil || g.running == 0 {
		g.idle = make(chan struct{})
	}
	g.running++
	g.mu.Unlock()
	go func() {
		defer g.done()
		f()
	}()
}

func (g *Group) done() {
	g.mu.Lock()
	g.running--
	if g.running == 0 {
		close(g.idle)
	}
	g.mu.Unlock()
}

// Running reports how many goroutines of g are running.
func (g *Group) Running() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running
}

// Wait blocks until no goroutine of g is running, or ctx ends.
func (g *Group) Wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.running == 0 {
			g.mu.Unlock()
			return nil
		}
		idle := g.idle
		g.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// DefaultThroughput is how many messages a mailbox handles before it yields,
// as protoactor's default dispatcher does.
const DefaultThroughput = 300

// Dispatcher is a protoactor Dispatcher that runs mailboxes on goroutines
// counted by g, so that stopping a node can wait for its actors' goroutines.
func (g *Group) Dispatcher() actor.Dispatcher { return dispatcher{g} }

type dispatcher struct{ g *Group }

func (d dispatcher) Schedule(fn func()) { d.g.Go(fn) }
func (d dispatcher) Throughput() int    { return DefaultThroughput }
