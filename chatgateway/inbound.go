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
	// ErrBadFrame: a message starts like a frame but is not one (its id
	// is not four digits, or it lacks the closing U+0003).
	ErrBadFrame = errors.New("chatgateway: text starts like a frame but is not one")
	// errIncomplete: a fragment was kept; its payload is not whole yet.
	errIncomplete = errors.New("chatgateway: fragment kept")
)

// inbound checks what the reader reads, in the order that makes a stranger
// cost least: who posted it before anything is decoded or kept, then the
// frame's shape within limits, then its signature and time.
type inbound struct {
	limits messages.Limits
	secret []byte
	skew   time.Duration
	clock  supervisor.Clock
	// start is when the node started: a signed frame made before it was
	// not meant for this run of the node, and is taken for a replay.
	start       time.Time
	reassembler *messages.Reassembler // safe for the readers of successive connections
	// evicted counts incomplete payloads dropped to make room for their
	// sender's newer pieces.
	evicted func(n int)
}

// check returns msg's frame, or why there is none: messages.ErrNotFrame
// for plain chat, errIncomplete for a fragment kept, or the reason to drop.
// What is a frame or a fragment is messages.Classify's call, the same one
// that a node's Post refuses to post.
func (in *inbound) check(msg messages.ChatMessage, room string, trusted []int64) (messages.Frame, error) {
	kind := messages.Classify(msg.Text)
	if kind == messages.KindChat {
		return messages.Frame{}, messages.ErrNotFrame
	}
	// Before anything is decoded or kept: a stranger costs a comparison.
	if !slices.Contains(trusted, msg.UserID) {
		return messages.Frame{}, ErrUntrusted
	}
	text := msg.Text
	if kind == messages.KindFragment {
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
		switch {
		case errors.Is(err, messages.ErrNotFrame) && kind == messages.KindFragment:
			err = fmt.Errorf("%w: the pieces do not make a frame", messages.ErrBadFragment)
		case errors.Is(err, messages.ErrNotFrame):
			err = fmt.Errorf("%w: %w", ErrBadFrame, err)
		}
		return frame, err
	}
	if in.secret == nil {
		return frame, nil
	}
	if err := frame.Verify(room, in.secret); err != nil {
		return frame, err
	}
	sent, now := time.UnixMilli(frame.Envelope.Time), in.clock.Now()
	if now.Sub(sent).Abs() > in.skew {
		return frame, fmt.Errorf("%w: sent %v, %v from now", ErrStale, sent.UTC(), now.Sub(sent).Round(time.Second))
	}
	// What this run of the node has seen is all it remembers, so a frame
	// made before it started may have been handled by its earlier run.
	if sent.Before(in.start) {
		return frame, fmt.Errorf("%w: sent %v, before this node started (%v)", ErrStale, sent.UTC(), in.start.UTC())
	}
	return frame, nil
}
