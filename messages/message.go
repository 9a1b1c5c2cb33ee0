package messages

import (
	"context"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Sender says who posted a frame.
type Sender struct {
	// UserID and UserName are the chat account that posted the frame.
	UserID   int64
	UserName string
	// NodeID is the sending node's id, from the frame's envelope; empty for
	// frames without one, such as SmokeDetector's.
	NodeID string
}

// Message is what a handler receives: the data for one message type out of
// one frame.
type Message struct {
	// Type is the payload's top-level key, such as "beverage".
	Type string
	// Data is the type's value as raw msgpack, undecoded.
	Data msgpack.RawMessage
	// Sender is who posted the frame.
	Sender Sender
	// ChatMessageID is the chat message that carried the frame.
	ChatMessageID int64
	// Sent is when the sender made the frame, by the sender's clock (the
	// envelope's time, to the millisecond); zero for frames without an
	// envelope, such as SmokeDetector's.
	Sent time.Time
}

// Decode unmarshals the data into v, which must be a pointer. Struct fields
// match by their `msgpack` tag, else their `json` tag, else their name.
func (m Message) Decode(v any) error {
	if err := unmarshal(m.Data, v); err != nil {
		return fmt.Errorf("messages: decode %q into %T: %w", m.Type, v, err)
	}
	return nil
}

// HandlerFunc handles the messages of one type. Its ctx is cancelled when
// the node closes past its drain deadline; a handler must return then.
type HandlerFunc func(ctx context.Context, m Message) error
