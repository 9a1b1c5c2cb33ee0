package gateway

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/internal/protocol"
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
	// dropped counts incomplete payloads dropped, by reason: evicted to make
	// room for their sender's newer pieces, or timed out.
	dropped func(r metrics.Reason, n int)
}

// trust is whom a reader accepts frames from: accounts by string where the
// server names them so (chatgateway.Identity.Account), else by user id.
type trust struct {
	ids      []int64
	accounts []string
}

// trustFor is cfg's trust, or, if it names nobody, the connection's own
// account.
func trustFor(ids []int64, accounts []string, self chatgateway.Identity) trust {
	switch {
	case len(ids) > 0 || len(accounts) > 0:
		return trust{ids, accounts}
	case self.Account != "":
		return trust{accounts: []string{self.Account}}
	}
	return trust{ids: []int64{self.UserID}}
}

// has compares the identity itself, never a hash of it: an account string
// when the message has one, else the user id.
func (t trust) has(msg messages.ChatMessage) bool {
	if msg.Account != "" {
		return slices.Contains(t.accounts, msg.Account)
	}
	return slices.Contains(t.ids, msg.UserID)
}

// accountKey names msg's account for the reassembler's budgets.
func accountKey(msg messages.ChatMessage) string {
	if msg.Account != "" {
		return "a:" + msg.Account
	}
	return "u:" + strconv.FormatInt(msg.UserID, 10)
}

// expire drops incomplete payloads that have waited too long for a piece,
// and counts them.
func (in *inbound) expire(now time.Time) {
	in.reassembler.Expire(now)
	in.countDropped()
}

func (in *inbound) countDropped() {
	if n := in.reassembler.TakeEvicted(); n > 0 && in.dropped != nil {
		in.dropped(metrics.FragmentLimit, n)
	}
	if n := in.reassembler.TakeExpired(); n > 0 && in.dropped != nil {
		in.dropped(metrics.FragmentTimeout, n)
	}
}

// check returns msg's frame, ready for the router, or why there is none:
// messages.ErrNotFrame for plain chat, errIncomplete for a fragment kept,
// or the reason to drop. What is a frame or a fragment is
// messages.Classify's call, the same one that a node's Post refuses to
// post.
func (in *inbound) check(msg messages.ChatMessage, room string, trusted trust) (*protocol.Inbound, error) {
	kind := messages.Classify(msg.Text)
	if kind == messages.KindChat {
		return nil, messages.ErrNotFrame
	}
	// Before anything is decoded or kept: a stranger costs a comparison.
	if !trusted.has(msg) {
		return nil, ErrUntrusted
	}
	text := msg.Text
	if kind == messages.KindFragment {
		whole, done, err := in.reassembler.Add(accountKey(msg), text, in.clock.Now())
		in.countDropped()
		switch {
		case err != nil:
			return nil, err
		case !done:
			return nil, errIncomplete
		}
		text = whole
	}
	ib, err := splitInbound(in.limits, text, msg)
	if err != nil {
		switch {
		case errors.Is(err, messages.ErrNotFrame) && kind == messages.KindFragment:
			err = fmt.Errorf("%w: the pieces do not make a frame", messages.ErrBadFragment)
		case errors.Is(err, messages.ErrNotFrame):
			err = fmt.Errorf("%w: %w", ErrBadFrame, err)
		}
		return nil, err
	}
	if in.secret == nil {
		return ib, nil
	}
	frame := &ib.Frame
	if err := frame.Verify(room, in.secret); err != nil {
		return nil, err
	}
	sent, now := time.UnixMilli(frame.Envelope.Time), in.clock.Now()
	if now.Sub(sent).Abs() > in.skew {
		return nil, fmt.Errorf("%w: sent %v, %v from now", ErrStale, sent.UTC(), now.Sub(sent).Round(time.Second))
	}
	// What this run of the node has seen is all it remembers, so a frame
	// made before it started may have been handled by its earlier run.
	if frame.Envelope.Time < in.start.UnixMilli() { // at the envelope's resolution
		return nil, fmt.Errorf("%w: sent %v, before this node started (%v)", ErrStale, sent.UTC(), in.start.UTC())
	}
	return ib, nil
}

// smallFrameLen is the most decoded bytes that an Inbound is allocated
// with: 128 makes an inboundWith 256 bytes, one of the allocator's size
// classes, and holds most frames, SmokeDetector's among them.
const smallFrameLen = 128

// inboundWith is an Inbound with room for a small frame's bytes and its
// one type, so that such a frame costs the reader one allocation.
type inboundWith struct {
	msg   protocol.Inbound
	types [1]messages.RawType
	buf   [smallFrameLen]byte
}

// splitInbound splits text into a new Inbound from msg. A frame whose
// decoded bytes would fit (the base64 of text bounds them from above) is
// split into the Inbound's own room; a bigger one allocates nothing more
// until it has split.
func splitInbound(l messages.Limits, text string, msg messages.ChatMessage) (*protocol.Inbound, error) {
	if base64.StdEncoding.DecodedLen(len(text)) > smallFrameLen {
		f, err := l.Split(text)
		if err != nil {
			return nil, err
		}
		return &protocol.Inbound{Frame: f, Chat: protocol.RefTo(msg)}, nil
	}
	w := new(inboundWith)
	f, err := l.SplitInto(text, w.buf[:], w.types[:])
	if err != nil {
		return nil, err
	}
	w.msg = protocol.Inbound{Frame: f, Chat: protocol.RefTo(msg)}
	return &w.msg, nil
}
