// Package protocol holds the messages a node's actors send each other: the
// wiring between the root package, the gateway and the router, which users
// never see. Each is sent as a pointer.
package protocol

import (
	"time"

	"github.com/socketscience/socketscience/messages"
)

// Outbound asks the gateway to post a payload, as messages.EncodeTypes gives it, or
// plain chat Text when Types is nil. The gateway stamps payloads with the
// node's envelope and may merge several into one frame. The sender holds a
// queue slot that the gateway releases once it is posted or given up on.
type Outbound struct {
	Types []messages.RawType
	Text  string
}

// Inbound carries one valid frame, read from the room, to the router.
type Inbound struct {
	Frame messages.Frame
	// Chat is the chat message that carried the frame.
	Chat messages.ChatMessage
}

// ChatInbound carries a chat message that is not a frame to the node's chat
// handler, if it has one.
type ChatInbound struct {
	Chat messages.ChatMessage
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
