// Package protocol holds the messages a node's actors send each other: the
// wiring between the root package, the gateway and the router, which users
// never see. Each is sent as a pointer.
//
// The set is closed: only this package's types implement Message (and
// StateEvent), by an unexported marker method, so a function that takes
// one cannot be handed anything else, and a type switch over them knows
// every case.
package protocol

import (
	"time"

	"github.com/socketscience/socketscience/messages"
)

// Message is one of the messages below, as a pointer.
type Message interface{ isMessage() }

// StateEvent is a change of the connection's state: *ConnectionUp or
// *ConnectionDown.
type StateEvent interface {
	Message
	isStateEvent()
}

func (*Outbound) isMessage()       {}
func (*Inbound) isMessage()        {}
func (*ChatInbound) isMessage()    {}
func (*Drain) isMessage()          {}
func (*ConnectionUp) isMessage()   {}
func (*ConnectionDown) isMessage() {}

func (*ConnectionUp) isStateEvent()   {}
func (*ConnectionDown) isStateEvent() {}

// Outbound asks the gateway to post a payload, as messages.EncodeTypes gives it, or
// plain chat Text when Types is nil. The gateway stamps payloads with the
// node's envelope and may merge several into one frame. The sender holds a
// queue slot that the gateway releases once it is posted or given up on.
type Outbound struct {
	Types []messages.RawType
	Text  string
	// Seq is the payload's seq (messages.Envelope.Seq), the same in every
	// room it is posted to; 0 lets the gateway number payloads itself.
	Seq uint64
	// Settle, if set, is called on the gateway actor once this room's copy
	// has been posted (reason "") or dropped (the drop reason). It must
	// not block.
	Settle func(reason string)
}

// Inbound carries one valid frame, read from the room, to the router.
type Inbound struct {
	Frame messages.Frame
	// Chat is the chat message that carried the frame.
	Chat ChatRef
	// Room is the index of the node's room that read it: chat message ids
	// are unique within a room only.
	Room int
}

// ChatRef is what the router needs of the chat message that carried a
// frame: which one it was, and who posted it. Not its text or time, which
// would only make each frame's allocation bigger.
type ChatRef struct {
	ID       int64
	UserID   int64
	UserName string
	Account  string
}

// RefTo is msg's ChatRef.
func RefTo(msg messages.ChatMessage) ChatRef {
	return ChatRef{ID: msg.ID, UserID: msg.UserID, UserName: msg.UserName, Account: msg.Account}
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
	// Room is the index of the node's room whose connection this is
	// (gateway.Config.Room), and RoomName its chatgateway.Identity.Room.
	Room          int
	RoomName      string
	UserID        int64
	UserName      string
	MaxMessageLen int
}

// ConnectionDown reports that the gateway lost, or could not open, its
// connection. RetryIn is when it dials again; Permanent means it will not.
type ConnectionDown struct {
	// Room and RoomName are as in ConnectionUp; RoomName is the last
	// connection's, empty if there was none.
	Room      int
	RoomName  string
	Err       error
	RetryIn   time.Duration
	Permanent bool
}
