package gateway

import (
	"crypto/sha256"
	"time"

	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/internal/protocol"
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
	seq         uint64 // the last payload seq the outbox gave, to payloads queued without one
	coalesce    bool
	secret      []byte // signs every frame when set
	// skew is the receivers' window for a signed frame's time: a post
	// older than half of it is stamped again before it is posted again.
	skew time.Duration
	// reassembly is what receivers are assumed to hold: the node's own
	// limits. A payload whose fragments would exceed them is not posted.
	reassembly messages.ReassemblyLimits
	items      []queued
	// pending is posted again, with the same node, incarnation and
	// sequence number, when its first post failed: if that post did reach
	// the room, receivers drop the copy.
	pending *post
}

// queued is one Outbound and the queue bytes it holds.
type queued struct {
	protocol.Outbound
	size int
}

// size is what out counts against the queue's byte bound.
func size(out *protocol.Outbound) int {
	n := len(out.Text)
	for _, t := range out.Types {
		n += len(t.Type) + len(t.Data)
	}
	return n
}

// post is one frame, or plain text, to make as one chat message or, for a
// frame longer than the server allows, as several fragments.
type post struct {
	texts []string
	sent  int // texts already posted
	items int // queue slots it stands for
	bytes int // queue bytes it stands for
	// settles are the Settle functions of the items it stands for.
	settles []func(reason string)
	// For a frame: what it was made from, so that it can be made again
	// (stamped anew, cut anew) under the same sequence number.
	types []messages.RawType
	env   *messages.Envelope
	limit int       // the message limit it was cut for
	last  time.Time // when its last text was posted, or it was made
}

func (p *post) text() string { return p.texts[p.sent] }

func (o *outbox) push(out protocol.Outbound) {
	if out.Types != nil && out.Seq == 0 {
		o.seq++
		out.Seq = o.seq
	}
	o.items = append(o.items, queued{out, size(&out)})
}

// settle tells p's items that they were posted (reason "") or dropped.
func (p *post) settle(reason string) {
	for _, f := range p.settles {
		f(reason)
	}
}

// settleFor collects the Settle functions of items.
func settleFor(items []queued) []func(string) {
	var fs []func(string)
	for _, q := range items {
		if q.Settle != nil {
			fs = append(fs, q.Settle)
		}
	}
	return fs
}

func (o *outbox) empty() bool { return len(o.items) == 0 && o.pending == nil }

// len is how many queued items are waiting, including those in pending.
func (o *outbox) len() int {
	n := len(o.items)
	if o.pending != nil {
		n += o.pending.items
	}
	return n
}

// dropped is what next gave up on: items and bytes taken off the queue,
// the length of the text that could not go, and why.
type dropped struct {
	items, bytes, len int
	reason            metrics.Reason
}

// next returns the post to make: the pending one (made again if it has
// grown too old for receivers, or its pieces waited too long), else one
// composed from the head of the queue, merging the payloads after it while
// their types do not collide and the frame stays within limit (0: no stated
// limit). A payload longer than limit alone goes as fragments. next returns
// nil when the item at the head cannot be posted at all (plain text over
// limit, a frame whose fragments receivers could not reassemble); that item
// is taken off the queue and described in d.
func (o *outbox) next(limit int, now time.Time) (p *post, d dropped) {
	if o.pending != nil {
		return o.refresh(o.pending, limit, now)
	}
	head := o.items[0]
	if head.Types == nil {
		o.take(1)
		p = &post{texts: []string{head.Text}, items: 1, bytes: head.size, settles: settleFor([]queued{head})}
		if limit > 0 && len(head.Text) > limit {
			p.settle(metrics.MessageTooLong.String())
			return nil, dropped{1, head.size, len(head.Text), metrics.MessageTooLong}
		}
		o.pending = p
		return o.pending, dropped{}
	}
	// The envelope's Seq is the first payload's; merged payloads' types
	// carry their own seq as an offset from it.
	env := &messages.Envelope{Node: o.node, Incarnation: o.incarnation, Seq: head.Seq, Time: now.UnixMilli()}
	if o.secret != nil {
		env.Sig = make([]byte, sha256.Size) // sized in, for ComposedLen
	}
	types, n, bytes := head.Types, 1, head.size
	if o.coalesce {
		mergeLimit := limit
		if mergeLimit <= 0 {
			mergeLimit = DefaultMaxCoalescedLen
		}
		offsets := make([]uint64, len(types), len(types)+1)
		for n < len(o.items) && o.items[n].Types != nil && o.items[n].Seq > head.Seq && !collide(types, o.items[n].Types) {
			next := o.items[n]
			merged := append(types[:len(types):len(types)], next.Types...)
			moved := offsets[:len(offsets):len(offsets)]
			for range next.Types {
				moved = append(moved, next.Seq-head.Seq)
			}
			env.Offsets = moved
			if messages.ComposedLen(merged, env) > mergeLimit {
				break
			}
			types, offsets = merged, moved
			bytes += next.size
			n++
		}
		env.Offsets = nil
		if n > 1 {
			env.Offsets = offsets
		}
	}
	p = &post{items: n, bytes: bytes, types: types, env: env, settles: settleFor(o.items[:n])}
	o.take(n)
	if d := o.make(p, limit, now); d.items > 0 {
		p.settle(d.reason.String())
		return nil, d
	}
	o.pending = p
	return p, dropped{}
}

// refresh makes p again when posting it now would fail at the receivers:
// a signed frame whose time would fall outside their window gets a new
// time and signature; fragments whose earlier pieces receivers will have
// dropped (posted a reassembly timeout ago), or that were cut for another
// message limit, are cut again under a new fragment id and posted from
// the first. Node, incarnation and sequence number stay, so receivers
// still drop a copy of an earlier attempt that did land.
func (o *outbox) refresh(p *post, limit int, now time.Time) (*post, dropped) {
	if p.env == nil {
		return p, dropped{}
	}
	stale := o.secret != nil && now.Sub(time.UnixMilli(p.env.Time)) > o.skew/2
	gap := p.sent > 0 && now.Sub(p.last) >= o.reassembly.Resolved().Timeout
	if !stale && !gap && limit == p.limit {
		return p, dropped{}
	}
	if stale {
		p.env.Time = now.UnixMilli()
	}
	if d := o.make(p, limit, now); d.items > 0 {
		o.pending = nil
		p.settle(d.reason.String())
		return nil, d
	}
	return p, dropped{}
}

// make composes p's frame (signed when the outbox signs) and cuts it for
// limit, starting p over from its first text.
func (o *outbox) make(p *post, limit int, now time.Time) dropped {
	text, err := compose(p.types, p.env, o.room, o.secret)
	if err != nil { // raw parts from EncodeTypes always compose; if not, say so
		return dropped{p.items, p.bytes, 0, metrics.BadFrame}
	}
	texts := []string{text}
	if limit > 0 && len(text) > limit {
		texts, err = messages.Fragment(text, limit, messages.NewFragmentID(o.incarnation))
		if err == nil {
			err = o.reassembly.Check(texts)
		}
		if err != nil {
			return dropped{p.items, p.bytes, len(text), metrics.MessageTooLong}
		}
	}
	p.texts, p.sent, p.limit, p.last = texts, 0, limit, now
	return dropped{}
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

// posted records that the pending post's current text went out at now.
// Once all of them have, it forgets the post and returns how many items
// and bytes it stood for; before, it returns zeros.
func (o *outbox) posted(now time.Time) (items, bytes int) {
	p := o.pending
	p.last = now
	if p.sent++; p.sent < len(p.texts) {
		return 0, 0
	}
	o.pending = nil
	p.settle("")
	return p.items, p.bytes
}

// drop forgets the pending post, dropped for reason, and returns how many
// items and bytes it stood for.
func (o *outbox) drop(reason metrics.Reason) (items, bytes int) {
	p := o.pending
	o.pending = nil
	p.settle(reason.String())
	return p.items, p.bytes
}

// abandon forgets everything waiting, dropped for reason, and returns how
// many items and bytes it stood for.
func (o *outbox) abandon(reason metrics.Reason) (items, bytes int) {
	items, bytes = o.len(), o.queuedBytes()
	if o.pending != nil {
		o.pending.settle(reason.String())
	}
	for _, f := range settleFor(o.items) {
		f(reason.String())
	}
	o.items, o.pending = nil, nil
	return items, bytes
}

// queuedBytes is what everything waiting holds against the byte bound.
func (o *outbox) queuedBytes() int {
	n := 0
	for _, q := range o.items {
		n += q.size
	}
	if o.pending != nil {
		n += o.pending.bytes
	}
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
