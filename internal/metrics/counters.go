// Package metrics holds the counters a node's packages share, so that the
// root package can report them as one Stats value.
package metrics

import "sync/atomic"

// Reason says why an inbound frame, an outbound post or a delivery was dropped.
type Reason int

// Drop reasons. Their String values are what users see in Stats.
const (
	BadBase64 Reason = iota
	BadMsgpack
	NotMap
	NonStringKey
	TooLarge
	BadEnvelope
	BadFrame // any other frame error
	Untrusted
	Unsigned
	BadSignature
	Stale // signed frames outside the time window
	BadFragment
	FragmentConflict
	FragmentLimit
	HandlerQueueFull
	MessageTooLong
	Rejected        // posts the server refused for good
	Abandoned       // queued outbound payloads given up on when a node closed
	FragmentTimeout // incomplete payloads whose next piece never came
	// AbandonedInbound counts messages left in a handler's mailbox when it
	// stopped without handling them: the node closed, or the handler was
	// stopped for good. Apart from Abandoned, as the remedy differs (outbound
	// needs Flush or a longer Close; inbound, faster handlers), and peers did
	// get these.
	AbandonedInbound
	// RoomQueueFull counts copies of payloads that a node with several
	// rooms did not queue for a room whose queue was full, as another room
	// took the payload.
	RoomQueueFull
	numReasons
)

var reasonNames = [numReasons]string{
	BadBase64:        "bad_base64",
	BadMsgpack:       "bad_msgpack",
	NotMap:           "not_map",
	NonStringKey:     "non_string_key",
	TooLarge:         "too_large",
	BadEnvelope:      "bad_envelope",
	BadFrame:         "bad_frame",
	Untrusted:        "untrusted",
	Unsigned:         "unsigned",
	BadSignature:     "bad_signature",
	Stale:            "stale",
	BadFragment:      "bad_fragment",
	FragmentConflict: "fragment_conflict",
	FragmentLimit:    "fragment_limit",
	HandlerQueueFull: "handler_queue_full",
	MessageTooLong:   "message_too_long",
	Rejected:         "rejected",
	Abandoned:        "abandoned",
	FragmentTimeout:  "fragment_timeout",
	AbandonedInbound: "abandoned_inbound",
	RoomQueueFull:    "room_queue_full",
}

func (r Reason) String() string { return reasonNames[r] }

// Reasons lists every reason, so that a test can check that the root
// package names each one.
func Reasons() []Reason {
	rs := make([]Reason, numReasons)
	for r := range numReasons {
		rs[r] = r
	}
	return rs
}

// Counters are a node's running totals. The zero value is ready to use.
type Counters struct {
	Sent          atomic.Int64 // payloads accepted by Send
	Posted        atomic.Int64 // chat posts that succeeded
	PostFailures  atomic.Int64
	Throttled     atomic.Int64 // posts the server said to retry later
	Frames        atomic.Int64 // valid frames read
	OwnFrames     atomic.Int64 // frames this node sent, skipped
	Duplicates    atomic.Int64 // frames handled before (edits, replays, reposts), skipped
	Delivered     atomic.Int64 // payload callback calls that returned nil
	Unhandled     atomic.Int64 // types in frames that no handler is registered for
	HandlerErrors atomic.Int64
	HandlerPanics atomic.Int64
	Restarts      atomic.Int64 // handler actor restarts
	Reconnects    atomic.Int64
	// ReorderGaps counts gaps in a sender's payload seqs given up on after
	// the reorder wait; ReorderLate, payloads that came after their gap
	// was given up on, handled out of order.
	ReorderGaps atomic.Int64
	ReorderLate atomic.Int64
	dropped     [numReasons]atomic.Int64
}

// Drop counts one drop for reason r.
func (c *Counters) Drop(r Reason) { c.dropped[r].Add(1) }

// DropN counts n drops for reason r.
func (c *Counters) DropN(r Reason, n int64) { c.dropped[r].Add(n) }

// Dropped returns the non-zero drop counts by reason name.
func (c *Counters) Dropped() map[string]int64 {
	m := make(map[string]int64)
	for r := range numReasons {
		if n := c.dropped[r].Load(); n > 0 {
			m[r.String()] = n
		}
	}
	return m
}
