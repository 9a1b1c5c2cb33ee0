package chatgateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/socketscience/socketscience/messages"
)

// Identity is the chat account a connection is logged in as, and the room
// it is in.
type Identity struct {
	UserID   int64
	UserName string
	// Account is the account as a string, for servers whose accounts have
	// no number (an IRC nick in the server's case folding, a Matrix user
	// id); trust compares it byte for byte, never a hash of it. Empty where
	// UserID is the account (Stack Exchange chat). Messages from the account
	// carry the same string in messages.ChatMessage.Account.
	Account string
	// Room names the room the connection is in: the same for every member
	// and every connection to it, such as "chat.stackexchange.com/rooms/11540"
	// or "irc://irc.example.net:6697/#bots". Signatures cover it, so a
	// signed frame copied into another room does not verify there. Adapters
	// must set it.
	Room string
}

// Limits are what a connection's server allows.
type Limits struct {
	// MaxMessageLen is the longest text, in bytes, that one post may carry.
	// Zero means the server sets no limit the adapter knows of.
	MaxMessageLen int
	// PostInterval is how often the server lets one account post, as far
	// as the adapter knows: the gateway paces posts to one per
	// PostInterval, after a burst of PostBurst. Zero means no known limit;
	// the gateway then learns one from RetryAfter errors.
	PostInterval time.Duration
	PostBurst    int
}

// Conn is one live connection to one chat room. Adapters implement it.
//
// The gateway calls Read from exactly one goroutine and Post from exactly
// one other goroutine; an adapter needs no further locking for them. Close may
// be called from any goroutine, more than once, and must make a blocked Read
// and Post return promptly.
type Conn interface {
	// Read blocks until the next chat message in the room, including the
	// connection's own posts (as a real room echoes them). It returns an
	// error when the connection is closed or has failed, including when
	// the server has been silent past the adapter's liveness deadline;
	// after an error the Conn is dead and the gateway dials a new one.
	Read() (messages.ChatMessage, error)
	// Post sends text to the room and returns the new message's ID (0 if
	// the server took it without saying). It makes one attempt and does not
	// sleep or retry on a refusal: it classifies it, and the gateway owns
	// waiting and pacing. A refusal for now is a RetryAfter; one that
	// retrying cannot fix (the text, not the connection, is at fault) wraps
	// ErrRejected and is dropped and counted; one that wraps ErrPermanent
	// stops reconnecting altogether; any other error fails the connection,
	// and the gateway posts the text again on the next one. Post must
	// deliver text exactly: a receiver must read back the same text (an
	// adapter whose transport cannot carry some text refuses it as
	// Rejected rather than send something else).
	Post(ctx context.Context, text string) (int64, error)
	// Identity is the account this connection is logged in as.
	Identity() Identity
	// Limits are the server's limits for this connection.
	Limits() Limits
	// Close ends the connection and unblocks Read and Post.
	Close() error
}

// Dialer opens connections. The gateway dials again, with backoff, each time
// a connection fails. A Dial error that wraps ErrPermanent (bad credentials,
// a banned account) stops the gateway from trying again.
type Dialer interface {
	Dial(ctx context.Context) (Conn, error)
}

// DialerFunc adapts a function to a Dialer.
type DialerFunc func(ctx context.Context) (Conn, error)

// Dial calls f(ctx).
func (f DialerFunc) Dial(ctx context.Context) (Conn, error) { return f(ctx) }

var (
	// ErrPermanent marks failures that retrying cannot fix. Wrap it with
	// Permanent.
	ErrPermanent = errors.New("chatgateway: permanent failure")
	// ErrConnClosed is returned by a Conn's methods after Close.
	ErrConnClosed = errors.New("chatgateway: connection closed")
	// ErrMessageTooLong is returned by Post for text over Limits.MaxMessageLen.
	ErrMessageTooLong = errors.New("chatgateway: message too long")
	// ErrRejected marks a post that the server refused and always will (an
	// empty or duplicate text, say): the gateway drops and counts it instead
	// of reconnecting to post it again. Wrap it with Rejected.
	ErrRejected = errors.New("chatgateway: post rejected")
)

// RetryAfterError is a post the server refused for now: it may be posted
// again after After. The gateway holds its posts that long, and paces later
// ones to match, instead of treating the connection as failed.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %v)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter wraps err as a RetryAfterError.
func RetryAfter(after time.Duration, err error) error {
	return &RetryAfterError{After: after, Err: err}
}

// Rejected wraps err so that errors.Is(err, ErrRejected) holds.
func Rejected(err error) error {
	if err == nil {
		return nil
	}
	return markedError{err, ErrRejected}
}

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return markedError{err, ErrPermanent}
}

// markedError is err, also matching mark under errors.Is.
type markedError struct{ err, mark error }

func (e markedError) Error() string   { return e.err.Error() }
func (e markedError) Unwrap() []error { return []error{e.err, e.mark} }
