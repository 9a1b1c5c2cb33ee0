package socketscience

import (
	"github.com/socketscience/socketscience/actors"
	"github.com/socketscience/socketscience/supervisor"
)

// The kinds of actor a node supervises, each by a strategy of its own that
// logs as that kind: a handler fails in user code, the gateway and the
// router only by a bug of ours, and a log line must say which.
const (
	handlerKind = "handler"
	gatewayKind = "gateway"
	routerKind  = "router"
)

// machineryPolicy supervises the gateway and the router: restart with
// backoff, never give up, as a node without either could not post or hear
// while Send still accepted payloads. The backoff keeps a panic on every
// message from spinning.
func machineryPolicy() supervisor.Policy {
	return supervisor.Policy{Backoff: supervisor.DefaultBackoff(), ResetAfter: supervisor.DefaultResetAfter}
}

// supervise returns a strategy for the node's actors of one kind, stopped
// when the node shuts down.
func (n *Node) supervise(kind string, p supervisor.Policy) *actors.Strategy {
	s := actors.NewStrategy(p, actors.WithStrategyClock(n.opts.clock), actors.WithStrategyRand(n.opts.rand),
		actors.WithFailureHook(func(e actors.Failure) { n.onFailure(kind, e) }))
	n.strategies = append(n.strategies, s)
	return s
}

// onFailure logs a supervision decision as the kind of actor it concerns. A
// handler's panic is logged, with its stack, by the handler itself; the
// gateway's or the router's is logged only here.
func (n *Node) onFailure(kind string, e actors.Failure) {
	switch {
	case kind == handlerKind && e.GaveUp:
		typ, _ := n.router.Forget(e.Child)
		n.log.Error().Str("actor", e.Child.Id).Str("type", typ).Interface("cause", e.Reason).Msg("handler stopped for good after too many failures; its type is no longer handled")
	case kind == handlerKind:
		n.log.Debug().Str("actor", e.Child.Id).Int("attempt", e.Attempt).Dur("delay", e.Delay).Msg("restarting handler")
	case e.GaveUp:
		n.log.Error().Str("actor", e.Child.Id).Interface("cause", e.Reason).Msg(kind + " stopped for good")
	default:
		n.log.Error().Str("actor", e.Child.Id).Interface("cause", e.Reason).Int("attempt", e.Attempt).Dur("delay", e.Delay).Msg("restarting " + kind)
	}
}
