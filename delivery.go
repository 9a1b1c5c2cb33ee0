package socketscience

import (
	"sync"
	"sync/atomic"

	"github.com/socketscience/socketscience/chatgateway/gateway"
)

// deliveries track, for a node with several rooms, each payload or text
// that Send or Post queued for one or more rooms until one of them has
// posted it or all have dropped their copies: what Flush waits for. A node
// with one room needs none; its gateway's queue is the whole story.
type deliveries struct {
	mu         sync.Mutex
	pending    map[*delivery]struct{}
	unreported map[string]int // items every room dropped, by the last reason, since Flush said so
}

// delivery is one item queued for several rooms. Its copies count starts
// at one, a guard held while Send offers it to rooms, so that rooms
// settling their copies meanwhile cannot finish it early.
type delivery struct {
	ds     *deliveries
	copies atomic.Int32
	posted atomic.Bool
	reason atomic.Pointer[string] // the last copy's drop reason
	once   sync.Once
	done   chan struct{}
}

func (ds *deliveries) begin() *delivery {
	d := &delivery{ds: ds, done: make(chan struct{})}
	d.copies.Store(1)
	ds.mu.Lock()
	if ds.pending == nil {
		ds.pending = make(map[*delivery]struct{})
	}
	ds.pending[d] = struct{}{}
	ds.mu.Unlock()
	return d
}

// offered counts a copy about to be queued; withdrawn, one that was not.
func (d *delivery) offered()   { d.copies.Add(1) }
func (d *delivery) withdrawn() { d.copies.Add(-1) }

// settle is a room's word on its copy: posted (reason ""), or dropped. The
// gateways call it on their actors; it does not block.
func (d *delivery) settle(reason string) {
	if reason == "" {
		d.posted.Store(true)
		d.finish()
	} else {
		d.reason.Store(&reason)
	}
	d.release()
}

// release drops the guard: Send has offered it to every room it will.
func (d *delivery) release() {
	if d.copies.Add(-1) == 0 {
		d.finish()
	}
}

func (d *delivery) finish() {
	d.once.Do(func() {
		d.ds.mu.Lock()
		delete(d.ds.pending, d)
		if r := d.reason.Load(); r != nil && !d.posted.Load() {
			if d.ds.unreported == nil {
				d.ds.unreported = make(map[string]int)
			}
			d.ds.unreported[*r]++
		}
		d.ds.mu.Unlock()
		close(d.done)
	})
}

// snapshot is the items pending now.
func (ds *deliveries) snapshot() []*delivery {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	pending := make([]*delivery, 0, len(ds.pending))
	for d := range ds.pending {
		pending = append(pending, d)
	}
	return pending
}

// dropped returns the items that every room dropped since it last
// reported them, as a *gateway.DroppedError, or nil; each drop is
// reported once.
func (ds *deliveries) dropped() error {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if len(ds.unreported) == 0 {
		return nil
	}
	err := &gateway.DroppedError{Reasons: ds.unreported}
	ds.unreported = nil
	return err
}
