package messages

import "time"

// ChatMessage is one message as a chat adapter reads it from the room.
type ChatMessage struct {
	// ID is the chat server's message id, unique within the room.
	ID int64
	// UserID and UserName identify the chat account that posted it.
	UserID   int64
	UserName string
	// Account is the posting account as a string, for servers whose
	// accounts have no number (see chatgateway.Identity.Account); empty
	// where UserID is the account.
	Account string
	// Text is the message's text, with U+200B and U+200C already stripped
	// where the server inserts them. For anything that can be a frame or a
	// fragment it is the plain source; for other chat an adapter may give
	// the server's rendering converted to text instead (sechat does unless
	// its ExactChatText is set: docs/sechat-reading.md says what that keeps).
	Text string
	// Edited is true when this is an edit of an earlier message ID.
	Edited bool
	// Time is when the server says the message was posted; zero if unknown.
	Time time.Time
}
