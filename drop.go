package socketscience

// DropReason says why a frame, a post or a message was dropped: the keys of
// Stats.Dropped. The same strings key a *chatgateway.DroppedError's Reasons
// and the "reason" field of the node's log lines.
type DropReason string

// Inbound frames, dropped on the reader goroutine before any handler sees
// them.
const (
	// DropBadBase64: a frame's body is not base64.
	DropBadBase64 DropReason = "bad_base64"
	// DropBadMsgpack: a frame's body is not msgpack, or nests deeper than
	// WithDecodeLimits allows.
	DropBadMsgpack DropReason = "bad_msgpack"
	// DropNotMap: a frame's payload is not a map.
	DropNotMap DropReason = "not_map"
	// DropNonStringKey: a map key in a frame is not a string.
	DropNonStringKey DropReason = "non_string_key"
	// DropTooLarge: a frame is over a WithDecodeLimits bound.
	DropTooLarge DropReason = "too_large"
	// DropBadEnvelope: a frame's envelope (the reserved key) is malformed.
	DropBadEnvelope DropReason = "bad_envelope"
	// DropBadFrame: any other malformed frame; outbound, a payload that
	// could not be composed into a post.
	DropBadFrame DropReason = "bad_frame"
	// DropUntrusted: a frame or fragment posted by an account that
	// WithTrustedUsers and WithTrustedAccounts do not trust.
	DropUntrusted DropReason = "untrusted"
	// DropUnsigned: an unsigned frame, WithSecret set.
	DropUnsigned DropReason = "unsigned"
	// DropBadSignature: a signature that does not match, WithSecret set.
	DropBadSignature DropReason = "bad_signature"
	// DropStale: a signed frame whose time is further from now than
	// WithMaxClockSkew: a replay of an old frame, or a peer's clock astray.
	DropStale DropReason = "stale"
	// DropBadFragment: a malformed fragment.
	DropBadFragment DropReason = "bad_fragment"
	// DropFragmentConflict: a fragment that differs from one already held
	// for the same place; its whole payload is dropped.
	DropFragmentConflict DropReason = "fragment_conflict"
	// DropFragmentLimit: a fragment that WithReassemblyLimits has no room
	// for.
	DropFragmentLimit DropReason = "fragment_limit"
	// DropFragmentTimeout: an incomplete payload whose next fragment did
	// not come within WithReassemblyLimits' Timeout.
	DropFragmentTimeout DropReason = "fragment_timeout"
)

// Delivery to handlers.
const (
	// DropHandlerQueueFull: a message for a handler already past
	// WithMaxPending or WithMaxPendingBytes.
	DropHandlerQueueFull DropReason = "handler_queue_full"
	// DropAbandonedInbound: a message left waiting for a handler when the
	// node closed or the handler stopped for good.
	DropAbandonedInbound DropReason = "abandoned_inbound"
)

// Outbound posts, dropped after Send accepted them; Flush and Close report
// them as an error matching ErrDropped.
const (
	// DropMessageTooLong: a post too long for the server, which Send could
	// not know before the node connected.
	DropMessageTooLong DropReason = "message_too_long"
	// DropRejected: a post the server refused for good.
	DropRejected DropReason = "rejected"
	// DropAbandoned: a post still queued when Close's ctx ended.
	DropAbandoned DropReason = "abandoned"
	// DropRoomQueueFull: one room's copy of a payload, not queued because
	// that room's queue was full while another room took the payload
	// (WithRooms, SendToEvery). Counted in that room's RoomStats; the
	// payload itself was not lost, and Flush does not report it.
	DropRoomQueueFull DropReason = "room_queue_full"
)
