package chatgateway

import "errors"

var (
	// ErrQueueFull is returned by Enqueue when the outbound queue is full and
	// the caller asked not to wait.
	ErrQueueFull = errors.New("chatgateway: outbound queue full")
	// ErrStopped is returned by Enqueue once the gateway is stopping, or has
	// stopped for good after a permanent failure (which it wraps then).
	ErrStopped = errors.New("chatgateway: gateway stopped")
)
