package socketscience

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/socketscience/socketscience/chatgateway/gateway"
	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/internal/protocol"
)

// room is one of a node's rooms: its own gateway (connection, queue,
// pacing, reconnects) and its own counters; the router and the handlers
// are the node's.
type room struct {
	index    int
	gateway  *gateway.Gateway
	counters metrics.Counters
}

// multi reports whether the node has several rooms. A node with one room
// takes the paths it always took: no send lock, no delivery tracking.
func (n *Node) multi() bool { return len(n.rooms) > 1 }

// enqueueRooms queues out for the rooms that n's SendPolicy picks, under
// the send lock, which numbers payloads in the order the rooms' queues get
// them, so that every room carries a payload under the same seq and posts
// them in seq order. It waits while no room can take out (every queue
// full), unless WithNonBlockingSend. The caller holds n.sending.
func (n *Node) enqueueRooms(ctx context.Context, out protocol.Outbound) error {
	select {
	case n.sendLock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.closing.Done():
		return ErrClosed
	}
	defer func() { <-n.sendLock }()
	if out.Types != nil {
		out.Seq = n.seq + 1
	}
	for {
		wake := n.roomSignals()
		d := n.deliveries.begin()
		out.Settle = d.settle
		taken, stopped := n.offer(ctx, out, d)
		d.release()
		if taken > 0 {
			if out.Types != nil {
				n.seq++
			}
			return nil
		}
		if stopped == len(n.rooms) {
			return n.stoppedErr()
		}
		if n.opts.nonBlocking {
			return ErrQueueFull
		}
		if err := n.waitSignal(ctx, wake); err != nil {
			return err
		}
	}
}

// offer queues out, without waiting, for the rooms the policy wants:
// connected rooms first, in order, then rooms still connecting. It
// returns how many took it, and how many have stopped for good. Under
// SendToEvery, a room whose queue was full while another took the payload
// drops its copy, counted.
func (n *Node) offer(ctx context.Context, out protocol.Outbound, d *delivery) (taken, stopped int) {
	want := n.opts.policy.want(len(n.rooms))
	var full []*room
	for _, connected := range []bool{true, false} {
		for _, r := range n.rooms {
			if taken == want {
				break
			}
			s := r.gateway.State()
			if s.Connected != connected {
				continue
			}
			if s.Permanent {
				stopped++
				continue
			}
			d.offered()
			err := r.gateway.Enqueue(ctx, out, false)
			if err == nil {
				taken++
				continue
			}
			d.withdrawn()
			if errors.Is(err, gateway.ErrQueueFull) {
				full = append(full, r)
			}
		}
	}
	if taken > 0 && !n.opts.policy.some {
		for _, r := range full {
			r.counters.Drop(metrics.RoomQueueFull)
			n.log.Warn().Int("room_index", r.index).Str("room", r.gateway.Identity().Room).Str("reason", metrics.RoomQueueFull.String()).
				Msg("dropped this room's copy: its queue is full, another room took it")
		}
	}
	return taken, stopped
}

// roomSignals are channels, one pair per room, of which one closes when
// any room's queue gives back room or its state changes.
func (n *Node) roomSignals() []reflect.SelectCase {
	cases := make([]reflect.SelectCase, 0, 2*len(n.rooms)+2)
	for _, r := range n.rooms {
		freed, changed := r.gateway.Freed()
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(freed)},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(changed)})
	}
	return cases
}

// waitSignal waits for one of wake, or ctx's end (its error), or Close
// (ErrClosed). A select over a number of rooms known only at run time
// needs reflect; only a Send that found every queue full comes here.
func (n *Node) waitSignal(ctx context.Context, wake []reflect.SelectCase) error {
	wake = append(wake,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(n.closing.Done())})
	switch i, _, _ := reflect.Select(wake); i {
	case len(wake) - 2:
		return fmt.Errorf("socketscience: waiting for queue room: %w", ctx.Err())
	case len(wake) - 1:
		return ErrClosed
	}
	return nil
}

// stoppedErr is ErrStopped for a node whose rooms have all failed for good,
// wrapping the first room's cause; ErrClosed once Close has stopped them.
func (n *Node) stoppedErr() error {
	return n.rootErr(gateway.ErrStopped)
}

// waitConnectedRooms waits until any room is connected, or every room has
// failed for good (ErrStopped), or Close (ErrClosed), or ctx ends.
func (n *Node) waitConnectedRooms(ctx context.Context) error {
	for {
		wake := n.roomSignals()
		stopped := 0
		for _, r := range n.rooms {
			s := r.gateway.State()
			if s.Connected {
				return nil
			}
			if s.Permanent {
				stopped++
			}
		}
		if stopped == len(n.rooms) {
			return n.stoppedErr()
		}
		if err := n.waitSignal(ctx, wake); err != nil {
			if errors.Is(err, ErrClosed) {
				return err
			}
			return ctx.Err()
		}
	}
}

// flushRooms is Flush for a node with several rooms: it waits until each
// item queued before it has been posted by some room, or dropped by every
// room that had it; or until every room has failed for good (ErrStopped),
// or ctx ends.
func (n *Node) flushRooms(ctx context.Context) error {
	for _, d := range n.deliveries.snapshot() {
		for {
			wake := n.roomSignals()
			if n.allStopped() {
				select {
				case <-d.done:
				default:
					return n.stoppedErr()
				}
			}
			wake = append(wake, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(d.done)})
			if err := n.waitSignal(ctx, wake); err != nil && !errors.Is(err, ErrClosed) {
				return ctx.Err()
			}
			select {
			case <-d.done:
			default:
				continue
			}
			break
		}
	}
	if err := n.deliveries.dropped(); err != nil {
		return err
	}
	if n.closed.Load() {
		select {
		case <-n.gatewayDone:
			return ErrClosed
		default:
		}
	}
	return nil
}

// allStopped reports whether every room has failed for good, or Close has
// stopped it.
func (n *Node) allStopped() bool {
	for _, r := range n.rooms {
		if !r.gateway.State().Permanent {
			return false
		}
	}
	return true
}

// drainRooms is the first step of Close for a node with several rooms:
// flushRooms until ctx ends, then every room's gateway stopped; copies
// still queued in slower rooms are abandoned, counted in their stats.
func (n *Node) drainRooms(ctx context.Context) error {
	err := n.flushRooms(ctx)
	for _, r := range n.rooms {
		r.gateway.Stop()
	}
	return err
}
