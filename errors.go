package socketscience

import (
	"errors"
	"fmt"
	"strings"

	"github.com/socketscience/socketscience/actors"
	"github.com/socketscience/socketscience/chatgateway/gateway"
)

var (
	// ErrClosed is returned by Send, Post and Register once Close has begun,
	// and by Flush and WaitConnected once Close has stopped the connection.
	// It is never ErrStopped: the node was closed on purpose.
	ErrClosed = errors.New("socketscience: node closed")
	// ErrInvalidPayload is returned by Send for a payload that cannot be
	// encoded (it wraps the messages error saying why), and by Post for
	// text that receivers would read as a frame or a fragment.
	ErrInvalidPayload = errors.New("socketscience: invalid payload")
	// ErrPayloadTooLarge is returned by Send when the encoded frame is over
	// messages.DefaultMaxFrameLen, or when the connected server's message
	// limit would need more fragments than receivers accept, or its pace
	// would space them further apart than receivers wait for the next.
	ErrPayloadTooLarge = errors.New("socketscience: payload too large")
	// ErrQueueFull is returned by Send and Post when the outbound queue is
	// full and the node was made WithNonBlockingSend.
	ErrQueueFull = gateway.ErrQueueFull
	// ErrStopped is returned by Send, Post, Flush, WaitConnected and Close
	// once the connection has failed for good (bad credentials, a banned
	// account): the node will not dial again, and only Close is left to do.
	// The error wraps the cause, so errors.Is(err, cause) holds too.
	ErrStopped = errors.New("socketscience: connection failed for good")
	// ErrDropped is matched by the error Flush (and Close) return when
	// queued posts were dropped instead of posted since the last Flush
	// said so: too long for the server, more fragments than receivers
	// reassemble, or refused by the server for good. It is a
	// *gateway.DroppedError, which counts them by reason.
	ErrDropped = gateway.ErrDropped
	// ErrInvalidOption is returned by New for an option whose value the node
	// cannot work with; the error names the option and says why.
	ErrInvalidOption = errors.New("socketscience: invalid option")
	// ErrNilHandler is returned by Register for a nil callback.
	ErrNilHandler = actors.ErrNilHandler
	// ErrNotWaited is a CloseError's Err when Close, called from a callback
	// with a ctx that can never end (not the callback's), did not wait for
	// the handlers that were running a callback when it was called, since
	// any of them may be its caller.
	ErrNotWaited = errors.New("socketscience: Close did not wait for callbacks that may be its caller")
)

// CloseError is what Close returns when it returns before every goroutine
// of the node has ended: its ctx ended, or it could not wait (ErrNotWaited).
// The node finishes stopping on its own once the callbacks still running
// return; a later Close waits for that. As suture's UnstoppedServiceReport,
// it names what did not stop.
type CloseError struct {
	// Stuck names, sorted, the handler types that were running a callback
	// when Close returned, apart from the callback calling Close when Close
	// knows it; "(chat)" and "(state)" are the chat and state handlers.
	// Their context was cancelled if ctx ended.
	Stuck []string
	// Err is ctx's error, or ErrNotWaited.
	Err error
}

func (e *CloseError) Error() string {
	if len(e.Stuck) == 0 {
		return fmt.Sprintf("socketscience: close unfinished: %v", e.Err)
	}
	return fmt.Sprintf("socketscience: close unfinished, handlers still in a callback: %s: %v", strings.Join(e.Stuck, ", "), e.Err)
}

// Unwrap returns Err, so errors.Is(err, context.DeadlineExceeded) holds.
func (e *CloseError) Unwrap() error { return e.Err }

// nodeError is ErrClosed or ErrStopped standing for the lower-level error
// that it replaces (gateway.ErrStopped, actors.ErrStopped, wrapping a
// connection's cause), so that errors.Is holds for the root sentinel, the
// lower one and the cause, while the message reads as the root package's.
type nodeError struct {
	sentinel error // ErrClosed or ErrStopped
	cause    error // why the connection failed for good; nil for ErrClosed
	lower    error
}

func (e *nodeError) Error() string {
	if e.cause == nil {
		return e.sentinel.Error()
	}
	return e.sentinel.Error() + ": " + e.cause.Error()
}

func (e *nodeError) Unwrap() []error { return []error{e.sentinel, e.lower} }

// rootErr turns the gateway's and the router's "stopped" errors into the
// root sentinels: ErrStopped while the connection has failed for good
// (before Close stops the gateway, which replaces the cause), else
// ErrClosed, as only Close stops them otherwise. Other errors pass as they
// are.
func (n *Node) rootErr(err error) error {
	if !errors.Is(err, gateway.ErrStopped) && !errors.Is(err, actors.ErrStopped) {
		return err
	}
	if s := n.gateway.State(); s.Permanent && s.Err != nil && !errors.Is(s.Err, gateway.ErrStopped) {
		return &nodeError{sentinel: ErrStopped, cause: s.Err, lower: err}
	}
	return &nodeError{sentinel: ErrClosed, lower: err}
}
