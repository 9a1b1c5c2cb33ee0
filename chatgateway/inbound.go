package chatgateway

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor"
)

// DefaultMaxClockSkew is how far from now a signed frame's time may be:
// beyond it the frame is a replay (or from a badly wrong clock).
const DefaultMaxClockSkew = 5 * time.Minute

var (
	// ErrUntrusted: a frame or fragment was posted by a chat account that
	// is not trusted.
	ErrUntrusted = errors.New("chatgateway: sender not trusted")
	// ErrStale: a signed frame's time is outside the allowed clock skew.
	ErrStale = errors.New("chatgateway: frame outside the time window")
	// errIncomplete: a fragment was kept; its payload is not whole yet.
	errIncomplete = errors.New("chatgateway: fragment kept")
)

// inbound checks what the reader reads, in the order that makes a stranger
// cost least: who posted it before anything is decoded or kept, then the
// frame's shape within limits, then its signature and time.
type inbound struct {
	limits      messages.Limits
	secret      []byte
	skew        time.Duration
	clock       supervisor.Clock
	reassembler *messages.Reassembler // safe for the readers of successive connections
	// evicted counts incomplete payloads dropped to make room for their
	// sender's newer pieces.
	evicted func(n int)
}

// check returns msg's frame, or why there is none: messages.ErrNotFrame
// for plain chat, errIncomplete for a fragment kept, or the reason to drop.
func (in *inbound) check(msg messages.ChatMessage, trusted []int64) (messages.Frame, error) {
	text := msg.Text
	if messages.IsFragment(text) {
		if !slices.Contains(trusted, msg.UserID) {
			return messages.Frame{}, ErrUntrusted
		}
		whole, done, err := in.reassembler.Add(msg.UserID, text, in.clock.Now())
		if n := in.reassembler.TakeEvicted(); n > 0 && in.evicted != nil {
			in.evicted(n)
		}
		switch {
		case err != nil:
			return messages.Frame{}, err
		case !done:
			return messages.Frame{}, errIncomplete
		}
		text = whole
	}
	frame, err := in.limits.Split(text)
	if err != nil {
		if text != msg.Text && errors.Is(err, messages.ErrNotFrame) {
			err = fmt.Errorf("%w: the pieces do not make a frame", messages.ErrBadFragment)
		}
		return frame, err
	}
	if !slices.Contains(trusted, msg.UserID) {
		return frame, ErrUntrusted
	}
	if in.secret == nil {
		return frame, nil
	}
	if err := frame.Verify(in.secret); err != nil {
		return frame, err
	}
	if sent := time.UnixMilli(frame.Envelope.Time); in.clock.Now().Sub(sent).Abs() > in.skew {
		return frame, fmt.Errorf("%w: sent %v, %v from now", ErrStale, sent.UTC(), in.clock.Now().Sub(sent).Round(time.Second))
	}
	return frame, nil
}
