package protocol

import (
	"sync"
	"sync/atomic"
)

// DefaultBacklog is how many messages the gateways' readers may have handed
// the router that it has not yet routed.
const DefaultBacklog = 1024

// Backlog holds a connection's reader back while the router is behind:
// without it, a reader that outpaces the router (a burst, a starved CPU)
// queues frames in memory without bound; with it, they wait in the
// connection, where the chat server's own flow control applies. The
// readers Acquire one unit per message they send the router, the router
// Releases what it has routed. Close, when the router stops, lets every
// reader through from then on, so none waits for a router that is gone.
// A nil *Backlog holds nothing back.
type Backlog struct {
	limit    int64
	n        atomic.Int64
	sleepers atomic.Int32
	mu       sync.Mutex
	wake     chan struct{} // closed to wake the readers waiting; under mu
	closed   bool          // under mu
}

// NewBacklog returns a Backlog of limit messages (DefaultBacklog if
// limit <= 0).
func NewBacklog(limit int) *Backlog {
	if limit <= 0 {
		limit = DefaultBacklog
	}
	return &Backlog{limit: int64(limit)}
}

// Acquire counts one message handed to the router, first waiting while
// the router is limit messages behind and not closed.
func (b *Backlog) Acquire() {
	if b == nil || b.n.Add(1) <= b.limit {
		return
	}
	b.mu.Lock()
	b.sleepers.Add(1)
	for b.n.Load() > b.limit && !b.closed {
		if b.wake == nil {
			b.wake = make(chan struct{})
		}
		wake := b.wake
		b.mu.Unlock()
		<-wake
		b.mu.Lock()
	}
	b.sleepers.Add(-1)
	b.mu.Unlock()
}

// Release counts n messages routed, waking the readers that wait.
func (b *Backlog) Release(n int) {
	if b == nil || n == 0 {
		return
	}
	b.n.Add(-int64(n))
	// A reader counts itself a sleeper before it checks n, so one that
	// missed this release's change to n is seen here.
	if b.sleepers.Load() > 0 {
		b.mu.Lock()
		b.wakeAll()
		b.mu.Unlock()
	}
}

// Close lets every reader through, now and from then on.
func (b *Backlog) Close() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.closed = true
	b.wakeAll()
	b.mu.Unlock()
}

func (b *Backlog) wakeAll() {
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
}
