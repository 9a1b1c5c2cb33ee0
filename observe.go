package socketscience

import (
	"time"

	"github.com/socketscience/socketscience/actors"
)

// HandlerOutcome is how a payload callback ended.
type HandlerOutcome string

const (
	HandlerOK    HandlerOutcome = "ok"    // returned nil: counted in Stats().Delivered
	HandlerError HandlerOutcome = "error" // returned an error: Stats().HandlerErrors
	HandlerPanic HandlerOutcome = "panic" // panicked: Stats().HandlerPanics
)

// HandlerEvent is one run of one payload callback, for WithHandlerObserver:
// what Stats cannot tell, per type and per call.
type HandlerEvent struct {
	// Node is the node's ID, Room its connection's room (Health().Room).
	Node string
	Room string
	// Type is the message type the callback is registered for.
	Type    string
	Outcome HandlerOutcome
	// Started is when the callback was called, by this machine's clock,
	// and Duration how long it ran, by the monotonic clock.
	Started  time.Time
	Duration time.Duration
	// Sent is when the sender made the frame (Message.Sent), by the
	// sender's clock; zero for frames without an envelope. Started minus
	// Sent is the delivery latency: the queue, the post, the chat server
	// and the handler's mailbox, plus the skew between the two clocks,
	// which can make it wrong by seconds, or negative.
	Sent time.Time
}

// WithHandlerObserver calls f after each payload callback returns or
// panics, one call per callback (a type with two callbacks gives two
// events per message), so that metrics can record durations, outcomes and
// delivery latencies per type (see package observability). Chat and state
// handlers are not observed. f runs on the type's handler actor, before
// its next message: it must be quick, must not block and must not panic,
// or it delays (or restarts) that type's handler; one f may be shared by
// many nodes and is called from many goroutines at once. Defaults to
// none: a node without an observer does not read the clock per callback.
func WithHandlerObserver(f func(HandlerEvent)) Option {
	return func(o *options) error { o.observer = f; return nil }
}

var outcomes = [...]HandlerOutcome{actors.OutcomeOK: HandlerOK, actors.OutcomeError: HandlerError, actors.OutcomePanic: HandlerPanic}

// observer adapts f to the router's hook; nil for a nil f.
func (n *Node) observer(f func(HandlerEvent)) func(actors.CallbackEvent) {
	if f == nil {
		return nil
	}
	return func(e actors.CallbackEvent) {
		f(HandlerEvent{Node: n.id, Room: n.gateway.Identity().Room, Type: e.Type, Outcome: outcomes[e.Outcome],
			Started: e.Started, Duration: e.Duration, Sent: e.Sent})
	}
}
