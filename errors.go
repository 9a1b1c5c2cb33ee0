package socketscience

import (
	"errors"

	"github.com/socketscience/socketscience/actors"
	"github.com/socketscience/socketscience/chatgateway"
)

var (
	// ErrClosed is returned by Send, Post and Register once Close has begun.
	ErrClosed = errors.New("socketscience: node closed")
	// ErrInvalidPayload is returned by Send for a payload that cannot be
	// encoded (it wraps the messages error saying why), and by Post for
	// text that would read as a frame.
	ErrInvalidPayload = errors.New("socketscience: invalid payload")
	// ErrPayloadTooLarge is returned by Send when the encoded frame is over
	// messages.DefaultMaxFrameLen, or when the connected server's message
	// limit would need more fragments than receivers accept.
	ErrPayloadTooLarge = errors.New("socketscience: payload too large")
	// ErrQueueFull is returned by Send and Post when the outbound queue is
	// full and the node was made WithNonBlockingSend.
	ErrQueueFull = chatgateway.ErrQueueFull
	// ErrStopped is returned by Send and Post once the connection has failed
	// for good (bad credentials, a banned account); it wraps the cause.
	ErrStopped = chatgateway.ErrStopped
	// ErrInvalidOption is returned by New for an option whose value the node
	// cannot work with; the error names the option and says why.
	ErrInvalidOption = errors.New("socketscience: invalid option")
	// ErrNilHandler is returned by Register for a nil callback.
	ErrNilHandler = actors.ErrNilHandler
)
