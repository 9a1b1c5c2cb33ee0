package actors

import (
	"hash/maphash"
	"strconv"
	"time"

	"github.com/socketscience/socketscience/internal/protocol"
	"github.com/socketscience/socketscience/messages"
)

// Defaults for what the router remembers to handle each payload once.
const (
	// DefaultDedupNodes is how many sending runs of nodes (id and
	// incarnation) are remembered, each with its window of payload seqs
	// and its reorder buffer; the least recently heard is forgotten first.
	DefaultDedupNodes = 1024
	// DefaultDedupMessages is how many recent chat message ids are kept
	// for each room.
	DefaultDedupMessages = 4096
	// DefaultDedupBodies is how many recent frames without an envelope
	// (SmokeDetector's) are remembered by sending account and content, to
	// drop their copies from other rooms.
	DefaultDedupBodies = 4096
	// DefaultDedupBodyAge is how long such a frame is remembered: a copy
	// from another room later than this is taken for a new payload.
	DefaultDedupBodyAge = time.Minute
)

// payload is one payload out of a frame: its types, and what the handlers
// are told about it. A frame merged from several payloads gives several.
type payload struct {
	types  []messages.RawType
	sender messages.Sender
	chatID int64
	sent   time.Time
}

// size is what p counts against DefaultReorderBytes.
func (p *payload) size() int {
	n := 0
	for _, t := range p.types {
		n += len(t.Data)
	}
	return n
}

// dedup decides which payloads to hand to handlers, once each, in each
// sender's order, whichever rooms they come through: the same chat message
// seen again (an edit, events replayed after a reconnect); a Go node's
// payload posted twice (the first post's outcome was unknown) or posted in
// several rooms, recognised by its (node, incarnation, payload seq) id; a
// SmokeDetector frame posted in several rooms, recognised by its sending
// account and content. It remembers a bounded amount, oldest forgotten
// first. The router actor owns it.
type dedup struct {
	reorder reorderConfig
	ids     *recentIDs
	// oneRoom: the router has one room, so a frame cannot come again
	// through another, and frames without an envelope are not remembered.
	oneRoom bool
	runs    map[nodeRun]*run
	order   ring[nodeRun] // runs, in the order they were first heard
	bodies  map[uint64]bodySeen
	bodyLog ring[uint64]
	seed    maphash.Seed
	out     []payload // admit's result, reused
	// heldBytes is the data of every payload the runs hold.
	heldBytes int
}

// chatKey is a chat message: ids are unique within a room only.
type chatKey struct {
	room int
	id   int64
}

// nodeRun is one run of a node: payload seqs start again at each.
type nodeRun struct {
	node        string
	incarnation uint64
}

// bodySeen is which rooms (a bit each) a frame without an envelope came
// through since it was first handled, and when that was.
type bodySeen struct {
	rooms uint64
	at    time.Time
}

// MaxRooms is how many rooms dedup tells apart for frames without an
// envelope.
const MaxRooms = 64

func newDedup(nodes, ids, bodies int, rc reorderConfig) *dedup {
	return &dedup{
		reorder: rc,
		ids:     newRecentIDs(ids),
		runs:    make(map[nodeRun]*run),
		order:   ring[nodeRun]{size: max(nodes, 1)},
		bodies:  make(map[uint64]bodySeen),
		bodyLog: ring[uint64]{size: max(bodies, 1)},
		seed:    maphash.MakeSeed(),
	}
}

// admit returns the payloads of in to hand to handlers now, in order, and
// how many of its payloads were copies of ones handled before. Payloads
// that arrive ahead of a gap in their sender's seqs are held (see run) and
// returned by a later admit or expire. base is what every payload of in
// shares. The result is valid until the next call.
func (d *dedup) admit(in *protocol.Inbound, base payload) (out []payload, dups int) {
	d.out = d.out[:0]
	if in.Chat.ID != 0 && !d.ids.add(chatKey{in.Room, in.Chat.ID}) {
		return nil, 1
	}
	env := in.Frame.Envelope
	if env == nil {
		if !d.oneRoom && d.bodySeen(in, d.reorder.clock.Now()) {
			return nil, 1
		}
		base.types = in.Frame.Types
		d.out = append(d.out, base) // kept, so the next frame reuses it
		return d.out, 0
	}
	r := d.run(nodeRun{env.Node, env.Incarnation})
	r.rooms |= roomBit(in.Room)
	types := in.Frame.Types
	for i := 0; i < len(types); {
		seq, j := env.PayloadSeq(i), i+1
		for j < len(types) && env.PayloadSeq(j) == seq {
			j++
		}
		p := base
		p.types = types[i:j:j]
		if !r.accept(seq, p, d) {
			dups++
		}
		i = j
	}
	return d.out, dups
}

// run is the state of sender k, remembered from now on.
func (d *dedup) run(k nodeRun) *run {
	if r, ok := d.runs[k]; ok {
		return r
	}
	if old, full := d.order.push(k); full {
		// Forgotten: what it held is handed on rather than lost.
		d.runs[old].flush(d)
		delete(d.runs, old)
	}
	r := &run{key: k}
	d.runs[k] = r
	return r
}

// bodySeen reports whether a frame without an envelope is a copy, from
// another room, of one handled within DefaultDedupBodyAge, and remembers
// it. The same content again in a room it already came through is a new
// payload: SmokeDetector may well send the same data twice.
func (d *dedup) bodySeen(in *protocol.Inbound, now time.Time) bool {
	var h maphash.Hash
	h.SetSeed(d.seed)
	// Written in pieces, which hash as their concatenation would, without
	// building it.
	if in.Chat.Account != "" {
		h.WriteString("a:")
		h.WriteString(in.Chat.Account)
	} else {
		var num [20]byte
		h.WriteString("u:")
		h.Write(strconv.AppendInt(num[:0], in.Chat.UserID, 10))
	}
	for _, t := range in.Frame.Types {
		h.WriteByte(0)
		h.WriteString(t.Type)
		h.WriteByte(0)
		h.Write(t.Data)
	}
	key := h.Sum64()
	bit := roomBit(in.Room)
	s, ok := d.bodies[key]
	if ok && s.rooms&bit == 0 && now.Sub(s.at) < DefaultDedupBodyAge {
		s.rooms |= bit
		d.bodies[key] = s
		return true
	}
	if !ok {
		if old, full := d.bodyLog.push(key); full {
			delete(d.bodies, old)
		}
	}
	d.bodies[key] = bodySeen{rooms: bit, at: now}
	return false
}

// roomBit is room's bit in a set of rooms.
func roomBit(room int) uint64 { return 1 << (uint(room) % MaxRooms) }

// expire gives up on the gap that r's timer gen was set for, if r still
// waits for it, and returns the payloads that can go now.
func (d *dedup) expire(k nodeRun, gen uint64) []payload {
	d.out = d.out[:0]
	if r, ok := d.runs[k]; ok && r.gen == gen && r.timer != nil {
		r.timer = nil
		r.giveUp(d)
	}
	return d.out
}

// flushAll hands on everything held, gaps given up on: the router stops.
func (d *dedup) flushAll() []payload {
	d.out = d.out[:0]
	for _, r := range d.runs {
		r.flush(d)
	}
	return d.out
}

// ring is a FIFO of at most size values, grown on use so that an idle
// node holds little; push returns the value it pushed out.
type ring[T any] struct {
	buf  []T
	size int
	next int
}

func (r *ring[T]) push(v T) (old T, evicted bool) {
	if len(r.buf) < r.size {
		r.buf = append(r.buf, v)
		return old, false
	}
	old = r.buf[r.next]
	r.buf[r.next] = v
	r.next = (r.next + 1) % r.size
	return old, true
}
