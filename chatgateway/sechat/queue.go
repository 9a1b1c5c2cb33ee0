package sechat

import (
	"context"
	"sync"
)

const (
	// maxQueuedFrames and maxQueuedBytes bound what the socket pump reads
	// ahead of Read (frames with events for the room; frames without are
	// only a cursor, and merge). Past either bound the pump stops reading
	// the socket until Read catches up, as the liveness deadline does: a
	// socket not being read cannot be judged silent. One frame always
	// fits, however large (the socket's read limit bounds it).
	maxQueuedFrames = 64
	maxQueuedBytes  = 1 << 20
)

// queuedFrame is one frame's events for the room, as items, and its
// cursor, or the error that ended the socket.
type queuedFrame struct {
	items []*item
	t     int64
	size  int // the frame's length, counted against maxQueuedBytes
	err   error
}

// frameQueue hands frames from the socket pump to Read, bounded by count
// and bytes. A channel alone would bound only the count.
type frameQueue struct {
	mu     sync.Mutex
	frames []queuedFrame
	bytes  int
	added  chan struct{} // one-slot signals: a frame was added,
	taken  chan struct{} // a frame was taken
}

func newFrameQueue() *frameQueue {
	return &frameQueue{added: make(chan struct{}, 1), taken: make(chan struct{}, 1)}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// push queues f, waiting for room, or returns ctx's error. A frame with no
// events replaces a queued last one with none: only the later cursor
// matters.
func (q *frameQueue) push(ctx context.Context, f queuedFrame) error {
	for {
		q.mu.Lock()
		n := len(q.frames)
		switch {
		case n > 0 && len(q.frames[n-1].items) == 0 && q.frames[n-1].err == nil && len(f.items) == 0:
			q.frames[n-1] = f
		case n == 0 || (n < maxQueuedFrames && q.bytes+f.size <= maxQueuedBytes):
			q.frames = append(q.frames, f)
			q.bytes += f.size
		default:
			q.mu.Unlock()
			select {
			case <-q.taken:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		q.mu.Unlock()
		signal(q.added)
		return nil
	}
}

// fail queues the error that ended the socket, past the bounds: it is the
// last thing the pump queues.
func (q *frameQueue) fail(err error) {
	q.mu.Lock()
	q.frames = append(q.frames, queuedFrame{err: err})
	q.mu.Unlock()
	signal(q.added)
}

// pop takes the oldest frame, waiting for one, or returns ctx's error. The
// error that ended the socket stays queued, for every later pop.
func (q *frameQueue) pop(ctx context.Context) (queuedFrame, error) {
	for {
		if f, ok := q.tryPop(); ok {
			return f, nil
		}
		select {
		case <-q.added:
		case <-ctx.Done():
			return queuedFrame{}, ctx.Err()
		}
	}
}

// tryPop takes the oldest frame if there is one, without waiting. The error
// that ended the socket stays queued.
func (q *frameQueue) tryPop() (queuedFrame, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.frames) == 0 {
		return queuedFrame{}, false
	}
	f := q.frames[0]
	if f.err == nil {
		q.frames[0] = queuedFrame{}
		q.frames = q.frames[1:]
		q.bytes -= f.size
	}
	signal(q.taken)
	return f, true
}
