package actors

import "github.com/socketscience/socketscience/messages"

// Defaults for what the router remembers to drop duplicate frames.
const (
	// DefaultDedupNodes is how many sending nodes' last sequence numbers
	// are kept.
	DefaultDedupNodes = 1024
	// DefaultDedupMessages is how many recent chat message ids are kept.
	DefaultDedupMessages = 4096
)

// dedup recognises frames already handled: the same chat message seen again
// (an edit, or events replayed after a reconnect), or a Go node's frame
// posted twice because the first post's outcome was unknown. It remembers a
// bounded amount, oldest forgotten first. The router actor owns it.
type dedup struct {
	last   map[nodeRun]uint64 // highest sequence number handled
	nodes  ring[nodeRun]
	ids    map[int64]struct{}
	recent ring[int64]
}

// nodeRun is one run of a node: sequence numbers start again at each.
type nodeRun struct {
	node        string
	incarnation uint64
}

func newDedup(nodes, ids int) *dedup {
	return &dedup{
		last:   make(map[nodeRun]uint64),
		nodes:  ring[nodeRun]{buf: make([]nodeRun, nodes)},
		ids:    make(map[int64]struct{}),
		recent: ring[int64]{buf: make([]int64, ids)},
	}
}

// seen reports whether the frame in chat message id, with envelope env (nil
// for SmokeDetector's), was handled before, and remembers it if not. A
// node's frames reach the room in the order it sent them, so a sequence
// number not above the last one handled from the same run of the node (its
// id and incarnation) is a copy. env.Node must not view a larger buffer:
// dedup keeps it.
//
// A zero id means the adapter does not know it; such frames are checked by
// their envelope only.
func (d *dedup) seen(id int64, env *messages.Envelope) bool {
	if _, ok := d.ids[id]; ok && id != 0 {
		return true
	}
	if env != nil {
		k := nodeRun{env.Node, env.Incarnation}
		last, known := d.last[k]
		if known && env.Seq <= last {
			return true
		}
		if !known {
			if old, full := d.nodes.push(k); full {
				delete(d.last, old)
			}
		}
		d.last[k] = env.Seq
	}
	if id != 0 {
		if old, full := d.recent.push(id); full {
			delete(d.ids, old)
		}
		d.ids[id] = struct{}{}
	}
	return false
}

// ring is a fixed-size FIFO; push returns the value it pushed out.
type ring[T any] struct {
	buf  []T
	next int
	full bool
}

func (r *ring[T]) push(v T) (old T, evicted bool) {
	old, evicted = r.buf[r.next], r.full
	r.buf[r.next] = v
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
	return old, evicted
}
