package gateway

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

var (
	// ErrQueueFull is returned by Enqueue when the outbound queue is full and
	// the caller asked not to wait.
	ErrQueueFull = errors.New("chatgateway: outbound queue full")
	// ErrStopped is returned by Enqueue, Drain and WaitConnected once the
	// gateway is stopping, or has stopped for good after a permanent failure
	// (which it wraps then).
	ErrStopped = errors.New("chatgateway: gateway stopped")
	// ErrDropped is matched by a *DroppedError.
	ErrDropped = errors.New("chatgateway: queued posts were dropped")
)

// DroppedError is Drain's report of queued posts that the gateway dropped
// (counted in the node's Stats too) instead of posting.
type DroppedError struct {
	// Reasons counts the dropped posts by drop reason, such as
	// "message_too_long" or "rejected".
	Reasons map[string]int
}

func (e *DroppedError) Error() string {
	parts := make([]string, 0, len(e.Reasons))
	for _, r := range slices.Sorted(maps.Keys(e.Reasons)) {
		parts = append(parts, fmt.Sprintf("%d %s", e.Reasons[r], r))
	}
	return "chatgateway: queued posts were dropped: " + strings.Join(parts, ", ")
}

// Is makes errors.Is(err, ErrDropped) hold.
func (e *DroppedError) Is(target error) bool { return target == ErrDropped }
