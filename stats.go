package socketscience

import (
	"errors"
	"time"

	"github.com/socketscience/socketscience/chatgateway/gateway"
	"github.com/socketscience/socketscience/internal/protocol"
)

// Health is the node's connection as of now.
type Health struct {
	// Connected is true while the node has a live connection to the room.
	Connected bool
	// Err is why the connection last went down; nil while connected, and
	// ErrClosed once Close has stopped it.
	Err error
	// Stopped is true when the connection failed for good (Err says why)
	// or the node is closed.
	Stopped bool
	// Closed is true once Close has begun; Err may then still tell an
	// earlier failure.
	Closed bool
	// Since is when the connection state last changed.
	Since time.Time
	// Queued counts posts waiting to go out, including the one in flight,
	// and QueuedBytes what they hold of WithQueueBytes.
	Queued      int
	QueuedBytes int64
	// Room is the room of the node's last connection
	// (chatgateway.Identity.Room); empty until it first connects.
	Room string
}

// StateChange is a change of the node's connection to the room.
type StateChange struct {
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
		return StateChange{Connected: true, UserID: e.UserID, UserName: e.UserName}
	case *protocol.ConnectionDown:
		return StateChange{Err: e.Err, RetryIn: e.RetryIn, Stopped: e.Permanent}
	}
	return StateChange{}
}

// Health reports the node's connection.
func (n *Node) Health() Health {
	s := n.gateway.State()
	closed := n.closed.Load()
	if errors.Is(s.Err, gateway.ErrStopped) {
		s.Err = &nodeError{sentinel: ErrClosed, lower: s.Err} // Close stopped the gateway
	}
	return Health{
		Connected:   s.Connected,
		Err:         s.Err,
		Stopped:     s.Permanent || closed,
		Closed:      closed,
		Since:       s.Since,
		Queued:      n.gateway.Queued(),
		QueuedBytes: n.gateway.QueuedBytes(),
		Room:        n.gateway.Identity().Room,
	}
}

// Stats are a node's running totals since New.
type Stats struct {
	Sent          int64 // payloads accepted by Send
	Posted        int64 // chat posts made (payloads and Post texts)
	PostFailures  int64 // posts that failed and were queued again
	Throttled     int64 // posts the server said to retry later
	Frames        int64 // valid frames read from the room
	OwnFrames     int64 // of those, this node's own, skipped (WithoutSelfDelivery)
	Duplicates    int64 // of those, copies of frames handled before, skipped
	Delivered     int64 // payload callback calls that returned nil (chat and state handler calls are not counted)
	Unhandled     int64 // types in frames that nothing is registered for
	HandlerErrors int64 // callback calls that returned an error
	HandlerPanics int64
	Restarts      int64 // handler actor restarts
	Reconnects    int64
	DeadLetters   int64 // actor messages that reached an actor after it stopped, on the node's Runtime
	// FragmentBytes is what incomplete fragmented payloads hold now,
	// within WithReassemblyLimits.
	FragmentBytes int64
	// Dropped counts what was dropped, by reason (the Drop… constants);
	// a reason with nothing dropped has no entry.
	Dropped map[DropReason]int64
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	c := &n.counters
	_, fragmentBytes := n.gateway.Reassembling()
	return Stats{
		FragmentBytes: int64(fragmentBytes),
		Sent:          c.Sent.Load(),
		Posted:        c.Posted.Load(),
		PostFailures:  c.PostFailures.Load(),
		Throttled:     c.Throttled.Load(),
		Frames:        c.Frames.Load(),
		OwnFrames:     c.OwnFrames.Load(),
		Duplicates:    c.Duplicates.Load(),
		Delivered:     c.Delivered.Load(),
		Unhandled:     c.Unhandled.Load(),
		HandlerErrors: c.HandlerErrors.Load(),
		HandlerPanics: c.HandlerPanics.Load(),
		Restarts:      c.Restarts.Load(),
		Reconnects:    c.Reconnects.Load(),
		DeadLetters:   n.rt.deadLetters.Load(),
		Dropped:       dropped(c.Dropped()),
	}
}

func dropped(byName map[string]int64) map[DropReason]int64 {
	m := make(map[DropReason]int64, len(byName))
	for r, n := range byName {
		m[DropReason(r)] = n
	}
	return m
}
