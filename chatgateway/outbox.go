package chatgateway

import (
	"crypto/sha256"
	"time"

	"github.com/socketscience/socketscience/messages"
)

// DefaultMaxCoalescedLen caps a frame merged from several payloads when the
// server states no message limit: merging must save posts, not make posts
// the server might refuse. A single payload is not held to it.
const DefaultMaxCoalescedLen = 8 << 10

// outbox is the gateway's outbound queue: what waits to be posted, and the
// post composed from it that has not been confirmed yet. The gateway actor
// owns it.
type outbox struct {
	node        string
	incarnation uint64
	room        string // the connection's, which signatures cover
	seq         uint64 // the last frame's; the first is 1
	coalesce    bool
	secret      []byte // signs every frame when set
	// reassembly is what receivers are assumed to hold: the node's own
	// limits. A payload whose fragments would exceed them is not posted.
	reassembly messages.ReassemblyLimits
	items      []messages.Outbound
	// pending is posted again as it is, same text and sequence number,
	// when its first post failed: if that post did reach the room,
	// receivers drop the copy.
	pending *post
}

// post is one frame, or plain text, to make as one chat message or, for a
// frame longer than the server allows, as several fragments.
type post struct {
	texts []string
	sent  int // texts already posted
	items int // queue slots it stands for
}

func (p *post) text() string { return p.texts[p.sent] }

func (o *outbox) push(out messages.Outbound) { o.items = append(o.items, out) }

func (o *outbox) empty() bool { return len(o.items) == 0 && o.pending == nil }

// len is how many queued items are waiting, including those in pending.
func (o *outbox) len() int {
	n := len(o.items)
	if o.pending != nil {
		n += o.pending.items
	}
	return n
}

// next returns the post to make: the pending one, else one composed from
// the head of the queue, merging the payloads after it while their types do
// not collide and the frame stays within limit (0: no stated limit). A
// payload longer than limit alone goes as fragments. next returns nil when
// the item at the head cannot be posted at all (plain text over limit, a
// frame needing too many fragments); that item is taken off the queue and
// its size returned as tooLong.
func (o *outbox) next(limit int, now time.Time) (p *post, tooLong int) {
	if o.pending != nil {
		return o.pending, 0
	}
	head := o.items[0]
	if head.Types == nil {
		o.take(1)
		if limit > 0 && len(head.Text) > limit {
			return nil, len(head.Text)
		}
		o.pending = &post{texts: []string{head.Text}, items: 1}
		return o.pending, 0
	}
	env := &messages.Envelope{Node: o.node, Incarnation: o.incarnation, Seq: o.seq + 1, Time: now.UnixMilli()}
	if o.secret != nil {
		env.Sig = make([]byte, sha256.Size) // sized in, for ComposedLen
	}
	types, n := head.Types, 1
	if o.coalesce {
		mergeLimit := limit
		if mergeLimit <= 0 {
			mergeLimit = DefaultMaxCoalescedLen
		}
		for n < len(o.items) && o.items[n].Types != nil && !collide(types, o.items[n].Types) {
			merged := append(types[:len(types):len(types)], o.items[n].Types...)
			if messages.ComposedLen(merged, env) > mergeLimit {
				break
			}
			types = merged
			n++
		}
	}
	o.take(n)
	text, err := compose(types, env, o.room, o.secret)
	if err != nil { // raw parts from EncodeTypes always compose
		panic(err)
	}
	texts := []string{text}
	if limit > 0 && len(text) > limit {
		texts, err = messages.Fragment(text, limit, messages.NewFragmentID(o.incarnation))
		if err == nil {
			err = o.reassembly.Check(texts)
		}
		if err != nil {
			return nil, len(text)
		}
	}
	o.seq++
	o.pending = &post{texts: texts, items: n}
	return o.pending, 0
}

// compose makes the frame for types under env, signed for room with secret
// if set.
func compose(types []messages.RawType, env *messages.Envelope, room string, secret []byte) (string, error) {
	if secret != nil {
		sig, err := messages.Sign(types, env, room, secret)
		if err != nil {
			return "", err
		}
		env.Sig = sig
	}
	return messages.ComposeFrame(types, env)
}

func (o *outbox) take(n int) {
	clear(o.items[:n])
	o.items = o.items[n:]
	if len(o.items) == 0 {
		o.items = nil // let a burst's backing array go
	}
}

// posted records that the pending post's current text went out. Once all
// of them have, it forgets the post and returns how many items it stood
// for; before, it returns 0.
func (o *outbox) posted() int {
	p := o.pending
	if p.sent++; p.sent < len(p.texts) {
		return 0
	}
	o.pending = nil
	return p.items
}

// drop forgets the pending post and returns how many items it stood for.
func (o *outbox) drop() int {
	n := o.pending.items
	o.pending = nil
	return n
}

// collide reports whether a and b share a type: one frame holds each type
// once, and a type's order must be kept.
func collide(a, b []messages.RawType) bool {
	for _, x := range b {
		for _, y := range a {
			if x.Type == y.Type {
				return true
			}
		}
	}
	return false
}
