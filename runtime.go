package socketscience

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience/chatgateway"
)

// Runtime is what the nodes of one process share: one actor system. A bot
// in many rooms makes one Runtime and a Node per room with NewNode; each
// node then costs its own actors and connection only, not a system's
// registry and scheduler (megabytes, allocated up front). New makes a
// runtime of its own for a single node. A Runtime is safe for concurrent
// use.
type Runtime struct {
	system      *actor.ActorSystem
	sub         *eventstream.Subscription
	deadLetters atomic.Int64
	log         zerolog.Logger
	private     bool // made by New for one node, and closed with it

	mu     sync.Mutex
	nodes  map[*Node]struct{}
	closed bool
}

// RuntimeOption configures a Runtime.
type RuntimeOption func(*Runtime) error

// WithRuntimeLogger sets where the runtime logs: protoactor's own warnings
// and the dead letters of all its nodes. Each node logs to its own
// WithLogger. Defaults to zerolog.Nop().
func WithRuntimeLogger(l zerolog.Logger) RuntimeOption {
	return func(rt *Runtime) error { rt.log = l; return nil }
}

// NewRuntime returns a runtime for nodes made with its NewNode.
func NewRuntime(opts ...RuntimeOption) (*Runtime, error) {
	rt := &Runtime{log: zerolog.Nop(), nodes: make(map[*Node]struct{})}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil RuntimeOption", ErrInvalidOption)
		}
		if err := opt(rt); err != nil {
			return nil, err
		}
	}
	rt.start()
	return rt, nil
}

func (rt *Runtime) start() {
	rt.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return protoactorLogger(rt.log)
	}))
	rt.sub = rt.system.EventStream.Subscribe(rt.onDeadLetter)
}

// NewNode starts a node on rt that joins the room through dialer, as New
// does. It fails with ErrClosed once rt's Close has begun.
func (rt *Runtime) NewNode(dialer chatgateway.Dialer, opts ...Option) (*Node, error) {
	o, err := resolveOptions(dialer, opts)
	if err != nil {
		return nil, err
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return nil, ErrClosed
	}
	n := newNode(rt, dialer, o)
	rt.nodes[n] = struct{}{}
	return n, nil
}

// Nodes returns rt's nodes that have not yet finished closing, in no
// particular order: a collector of metrics or a health check lists them
// when asked rather than being told of each.
func (rt *Runtime) Nodes() []*Node {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	nodes := make([]*Node, 0, len(rt.nodes))
	for n := range rt.nodes {
		nodes = append(nodes, n)
	}
	return nodes
}

// Close closes every node of rt that is still open (as Node.Close does,
// all by ctx's end), then releases the actor system. NewNode fails with
// ErrClosed from then on. It returns the nodes' Close errors.
func (rt *Runtime) Close(ctx context.Context) error {
	rt.mu.Lock()
	rt.closed = true
	nodes := make([]*Node, 0, len(rt.nodes))
	for n := range rt.nodes {
		nodes = append(nodes, n)
	}
	rt.mu.Unlock()
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = n.Close(ctx) })
	}
	wg.Wait()
	rt.mu.Lock()
	if len(rt.nodes) == 0 {
		rt.shutdownLocked()
	}
	rt.mu.Unlock()
	return errors.Join(errs...)
}

// release forgets n, whose actors have all stopped; a private runtime, or
// a closed one whose last node this was, shuts its system down.
func (rt *Runtime) release(n *Node) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	delete(rt.nodes, n)
	if rt.private {
		rt.closed = true
	}
	if rt.closed && len(rt.nodes) == 0 {
		rt.shutdownLocked()
	}
}

// shutdownLocked releases the system. protoactor's Shutdown stops no actor:
// the nodes have stopped theirs.
func (rt *Runtime) shutdownLocked() {
	if rt.sub != nil {
		rt.system.EventStream.Unsubscribe(rt.sub)
		rt.sub = nil
		rt.system.Shutdown()
	}
}

// onDeadLetter counts messages sent to actors that had stopped. Nodes avoid
// sending them, as each one makes protoactor start a goroutine for a
// second; one that slips through is counted, not lost silently.
func (rt *Runtime) onDeadLetter(evt any) {
	if dl, ok := evt.(*actor.DeadLetterEvent); ok {
		rt.deadLetters.Add(1)
		rt.log.Debug().Str("actor", dl.PID.GetId()).Str("go_type", fmt.Sprintf("%T", dl.Message)).Msg("dead letter")
	}
}

// protoactorLogger routes protoactor's slog output into l at warning level
// and above: below that it logs every panic and dead letter, which the node
// reports itself.
func protoactorLogger(l zerolog.Logger) *slog.Logger {
	if l.GetLevel() == zerolog.Disabled {
		return slog.New(slog.DiscardHandler)
	}
	level := max(l.GetLevel(), zerolog.WarnLevel)
	return slog.New(zerolog.NewSlogHandler(l.Level(level).With().Str("lib", "protoactor").Logger()))
}
