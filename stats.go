package socketscience

import (
	"errors"
	"time"

	"github.com/socketscience/socketscience/chatgateway/gateway"
	"github.com/socketscience/socketscience/internal/protocol"
)

// Health is the node's connection as of now. With several rooms
// (WithRooms), the node is connected while any room is; Rooms tells each.
type Health struct {
	// Connected is true while the node has a live connection to the room,
	// or, with several rooms, to at least one of them.
	Connected bool
	// Degraded is true while a node with several rooms is connected to
	// some of them but not all (a room down, reconnecting or stopped for
	// good). Always false with one room.
	Degraded bool
	// Err is why the connection last went down; nil while connected, and
	// ErrClosed once Close has stopped it. With several rooms, nil while
	// any room is connected, else the rooms' errors joined.
	Err error
	// Stopped is true when the connection failed for good (Err says why)
	// or the node is closed; with several rooms, when every room's has.
	Stopped bool
	// Closed is true once Close has begun; Err may then still tell an
	// earlier failure.
	Closed bool
	// Since is when the connection state last changed; with several rooms,
	// when any room's last did.
	Since time.Time
	// Queued counts posts waiting to go out, including the one in flight,
	// and QueuedBytes what they hold of WithQueueBytes; with several rooms,
	// every room's copies summed.
	Queued      int
	QueuedBytes int64
	// Room is the room of the node's last connection
	// (chatgateway.Identity.Room); empty until it first connects. With
	// several rooms, the first room's.
	Room string
	// Rooms is each room's health, in the order given: New's dialer first,
	// then WithRooms'. One entry for a node with one room.
	Rooms []RoomHealth
}

// RoomHealth is one room's connection as of now, as in Health.
type RoomHealth struct {
	// Index is the room's place in the order given: 0 for New's dialer,
	// then WithRooms' in order. State changes name it too.
	Index int
	// Room is the room of its last connection; empty until it connects.
	Room        string
	Connected   bool
	Err         error
	Stopped     bool
	Since       time.Time
	Queued      int
	QueuedBytes int64
}

// StateChange is a change of the node's connection to one of its rooms.
type StateChange struct {
	// Room is the index of the room (RoomHealth.Index), and RoomName its
	// chatgateway.Identity.Room: of this connection when Connected, else
	// of its last one (empty if it never connected).
	Room     int
	RoomName string
	// Connected is true when the node has just connected, as the chat
	// account UserID/UserName.
	Connected bool
	UserID    int64
	UserName  string
	// Err is why the connection went down, and RetryIn when the node dials
	// again; Stopped means it will not (Err says why).
	Err     error
	RetryIn time.Duration
	Stopped bool
}

func stateChange(ev protocol.StateEvent) StateChange {
	switch e := ev.(type) {
	case *protocol.ConnectionUp:
		return StateChange{Room: e.Room, RoomName: e.RoomName, Connected: true, UserID: e.UserID, UserName: e.UserName}
	case *protocol.ConnectionDown:
		return StateChange{Room: e.Room, RoomName: e.RoomName, Err: e.Err, RetryIn: e.RetryIn, Stopped: e.Permanent}
	}
	return StateChange{}
}

// Health reports the node's connection.
func (n *Node) Health() Health {
	closed := n.closed.Load()
	h := Health{Closed: closed, Stopped: true, Room: n.gateway.Identity().Room, Rooms: make([]RoomHealth, len(n.rooms))}
	var errs []error
	for i, r := range n.rooms {
		s := r.gateway.State()
		if errors.Is(s.Err, gateway.ErrStopped) {
			s.Err = &nodeError{sentinel: ErrClosed, lower: s.Err} // Close stopped the gateway
		}
		rh := RoomHealth{Index: i, Room: r.gateway.Identity().Room, Connected: s.Connected, Err: s.Err,
			Stopped: s.Permanent || closed, Since: s.Since, Queued: r.gateway.Queued(), QueuedBytes: r.gateway.QueuedBytes()}
		h.Rooms[i] = rh
		h.Connected = h.Connected || rh.Connected
		h.Degraded = h.Degraded || !rh.Connected
		h.Stopped = h.Stopped && rh.Stopped
		if rh.Since.After(h.Since) {
			h.Since = rh.Since
		}
		h.Queued += rh.Queued
		h.QueuedBytes += rh.QueuedBytes
		if rh.Err != nil {
			errs = append(errs, rh.Err)
		}
	}
	h.Degraded = h.Degraded && h.Connected && n.multi()
	switch {
	case h.Connected:
	case len(errs) == 1:
		h.Err = errs[0]
	default:
		h.Err = errors.Join(errs...)
	}
	return h
}

// Stats are a node's running totals since New. With several rooms, the
// counts of posts, frames read and their drops are every room's summed;
// Rooms has each room's own.
type Stats struct {
	Sent          int64 // payloads accepted by Send
	Posted        int64 // chat posts made (payloads and Post texts)
	PostFailures  int64 // posts that failed and were queued again
	Throttled     int64 // posts the server said to retry later
	Frames        int64 // valid frames read from the room
	OwnFrames     int64 // of those, this node's own, skipped (WithoutSelfDelivery)
	Duplicates    int64 // payloads in them (or chat messages) handled before, skipped: reposts, edits, copies from other rooms
	Delivered     int64 // payload callback calls that returned nil (chat and state handler calls are not counted)
	Unhandled     int64 // types in frames that nothing is registered for
	HandlerErrors int64 // callback calls that returned an error
	HandlerPanics int64
	Restarts      int64 // handler actor restarts
	Reconnects    int64
	DeadLetters   int64 // actor messages that reached an actor after it stopped, on the node's Runtime
	// ReorderGaps counts gaps in a sender's payload seqs that no room
	// filled within WithReorderWait: the payloads after the gap were then
	// handled without it. ReorderLate counts payloads that came after
	// their gap was given up on: handled late, out of order, but once.
	ReorderGaps int64
	ReorderLate int64
	// FragmentBytes is what incomplete fragmented payloads hold now,
	// within WithReassemblyLimits.
	FragmentBytes int64
	// Dropped counts what was dropped, by reason (the Drop… constants);
	// a reason with nothing dropped has no entry.
	Dropped map[DropReason]int64
	// Rooms is each room's own counts, in the order given.
	Rooms []RoomStats
}

// RoomStats are one room's running totals: what its connection posted and
// read, and dropped (DropRoomQueueFull among them).
type RoomStats struct {
	Index         int
	Room          string // chatgateway.Identity.Room of its last connection
	Posted        int64
	PostFailures  int64
	Throttled     int64
	Frames        int64
	Reconnects    int64
	FragmentBytes int64
	Dropped       map[DropReason]int64
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	c := &n.counters
	s := Stats{
		Sent:          c.Sent.Load(),
		OwnFrames:     c.OwnFrames.Load(),
		Duplicates:    c.Duplicates.Load(),
		Delivered:     c.Delivered.Load(),
		Unhandled:     c.Unhandled.Load(),
		HandlerErrors: c.HandlerErrors.Load(),
		HandlerPanics: c.HandlerPanics.Load(),
		Restarts:      c.Restarts.Load(),
		ReorderGaps:   c.ReorderGaps.Load(),
		ReorderLate:   c.ReorderLate.Load(),
		DeadLetters:   n.rt.deadLetters.Load(),
		Dropped:       dropped(c.Dropped()),
		Rooms:         make([]RoomStats, len(n.rooms)),
	}
	for i, r := range n.rooms {
		rc := &r.counters
		_, fragmentBytes := r.gateway.Reassembling()
		rs := RoomStats{Index: i, Room: r.gateway.Identity().Room, Posted: rc.Posted.Load(), PostFailures: rc.PostFailures.Load(),
			Throttled: rc.Throttled.Load(), Frames: rc.Frames.Load(), Reconnects: rc.Reconnects.Load(),
			FragmentBytes: int64(fragmentBytes), Dropped: dropped(rc.Dropped())}
		s.Rooms[i] = rs
		s.Posted += rs.Posted
		s.PostFailures += rs.PostFailures
		s.Throttled += rs.Throttled
		s.Frames += rs.Frames
		s.Reconnects += rs.Reconnects
		s.FragmentBytes += rs.FragmentBytes
		for k, v := range rs.Dropped {
			s.Dropped[k] += v
		}
	}
	return s
}

func dropped(byName map[string]int64) map[DropReason]int64 {
	m := make(map[DropReason]int64, len(byName))
	for r, n := range byName {
		m[DropReason(r)] = n
	}
	return m
}
