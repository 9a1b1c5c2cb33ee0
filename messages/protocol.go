package messages

import "time"

// The structs below are the messages actors send each other. Each is sent
// as a pointer.

// Outbound asks the gateway to post a payload, as EncodeTypes gives it, or
// plain chat Text when Types is nil. The gateway stamps payloads with the
// node's envelope and may merge several into one frame. The sender holds a
// queue slot that the gateway releases once it is posted or given up on.
type Outbound struct {
	Types []RawType
	Text  string
}

// Inbound carries one valid frame, read from the room, to the router.
type Inbound struct {
	Frame Frame
	// Chat is the chat message that carried the frame.
	Chat ChatMessage
}

// ChatInbound carries a chat message that is not a frame to the node's chat
// handler, if it has one.
type ChatInbound struct {
	Chat ChatMessage
}

// Drain asks the gateway to close Done once nothing is left to post. Before
// it does, it sets Dropped to the posts it dropped, by reason, since a
// Drain last reported them.
type Drain struct {
	Done    chan struct{}
	Dropped map[string]int
}

// ConnectionUp reports that the gateway is connected to the room.
type ConnectionUp struct {
	UserID        int64
	UserName      string
	MaxMessageLen int
}

// ConnectionDown reports that the gateway lost, or could not open, its
// connection. RetryIn is when it dials again; Permanent means it will not.
type ConnectionDown struct {
	Err       error
	RetryIn   time.Duration
	Permanent bool
}
