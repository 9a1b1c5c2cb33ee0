package socketscience

import (
	"fmt"

	"github.com/socketscience/socketscience/chatgateway"
)

// SendPolicy says which of a node's rooms (WithRooms) Send and Post queue
// each payload or text for. Make one with SendToEvery, SendToFirstHealthy
// or SendToK. Whatever the policy, a room that is down, throttled or full
// never holds the others back: Send waits (or, WithNonBlockingSend, fails
// with ErrQueueFull) only while no room can take the payload, and a
// payload counts as delivered (Flush) once any room has posted it.
type SendPolicy struct {
	k    int  // how many rooms, when some
	some bool // false: every room
}

// SendToEvery queues each payload for every room whose queue has room: the
// most redundant, and what SmokeDetector does with the rooms that have its
// "direct" role. A room whose queue is full while another room took the
// payload drops its copy, counted in that room's Stats as
// room_queue_full. This is the default.
func SendToEvery() SendPolicy { return SendPolicy{} }

// SendToFirstHealthy queues each payload for one room: the first, in the
// order given (New's dialer, then WithRooms'), that is connected and has
// queue room; if none is connected, the first with queue room, to post
// once it connects. A payload queued for a room that then fails waits in
// that room's queue for it to come back; it does not move to another. It
// is SendToK(1).
func SendToFirstHealthy() SendPolicy { return SendToK(1) }

// SendToK queues each payload for k rooms, connected ones first, in the
// order given, then rooms still connecting; fewer than k when fewer can
// take it (at least one, or Send waits). k must be from 1 to the number of
// rooms, or New fails with ErrInvalidOption.
func SendToK(k int) SendPolicy { return SendPolicy{k: k, some: true} }

// String names the policy, for logs.
func (p SendPolicy) String() string {
	switch {
	case !p.some:
		return "every room"
	case p.k == 1:
		return "first healthy room"
	}
	return fmt.Sprintf("%d rooms", p.k)
}

// want is how many rooms of n the policy queues a payload for.
func (p SendPolicy) want(n int) int {
	if !p.some {
		return n
	}
	return min(p.k, n)
}

// WithSendPolicy sets which rooms Send and Post queue for when the node has
// several (WithRooms). It has no effect on a node with one room. Defaults
// to SendToEvery().
func WithSendPolicy(p SendPolicy) Option {
	return func(o *options) error {
		if p.some && p.k < 1 {
			return invalidOption("WithSendPolicy", "k is %d; want at least 1", p.k)
		}
		o.policy = p
		return nil
	}
}

// MaxRooms is how many rooms one node may join: New's dialer and those of
// WithRooms together.
const MaxRooms = 64

// WithRooms adds rooms to the node, after New's dialer: on the same
// network or others (Stack Exchange chat, IRC, Matrix), each with its own
// connection, outbound queue, pacing, reconnects, health and stats, and one
// router and set of handlers for all. A payload sent is queued for rooms by
// WithSendPolicy; one that arrives through several rooms is handled once,
// in each sender's order (see docs/rooms.md). No dialer may be nil, and
// the node's rooms may number at most MaxRooms. Defaults to none: the node
// is in New's room only.
func WithRooms(dialers ...chatgateway.Dialer) Option {
	return func(o *options) error {
		for i, d := range dialers {
			if d == nil {
				return invalidOption("WithRooms", "dialer %d is nil", i)
			}
		}
		if 1+len(o.rooms)+len(dialers) > MaxRooms {
			return invalidOption("WithRooms", "%d rooms; want at most %d", 1+len(o.rooms)+len(dialers), MaxRooms)
		}
		o.rooms = append(o.rooms, dialers...)
		return nil
	}
}
