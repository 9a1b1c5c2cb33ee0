package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	"math/bits"
	"time"

	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/supervisor"
)

// Defaults for putting each sender's payloads back in order when they come
// through several rooms.
const (
	// DefaultReorderWait is how long a payload that arrives ahead of a
	// gap in its sender's seqs, from a sender heard through more than one
	// room, is held for the missing ones: long enough
	// for a slower room to bring them, short enough that a payload no
	// room will bring holds up little. Past it, the gap is given up on
	// (counted in ReorderGaps) and what was held is handled.
	DefaultReorderWait = 2 * time.Second
	// DefaultReorderHeld is how many payloads one sender may have held;
	// one more gives up on the gap at once.
	DefaultReorderHeld = 64
	// DefaultReorderBytes bounds the data of the payloads held for all
	// senders together; past it, the gap of the sender whose payload
	// went over is given up on at once.
	DefaultReorderBytes = 8 << 20
	// DedupWindow is how many payload seqs below the next expected one
	// each sender's run remembers as handled or not; a payload older than
	// that is taken for a copy.
	DedupWindow = 1024
)

// reorderConfig is how the router's runs wait for gaps.
type reorderConfig struct {
	clock supervisor.Clock
	wait  time.Duration
	held  int
	bytes int // of all runs' held payloads
	// wake asks the router actor to call expire for run k's timer gen.
	wake     func(k nodeRun, gen uint64)
	counters *metrics.Counters
}

// run is what the router knows of one run of a sending node: which payload
// seqs it handled, and the payloads it holds until a gap before them is
// filled. Seqs below next are handled, or given up on (those may still be
// handled, late, if they come, as long as they are within the window);
// seqs from next on are held or not yet seen.
type run struct {
	key nodeRun
	// rooms has a bit for each room (Inbound.Room) the run was heard
	// through: heard through one only, nothing can fill a gap, so none is
	// waited for.
	rooms uint64
	next  uint64                   // 0 until the first payload
	seen  [DedupWindow / 64]uint64 // bit s%DedupWindow: s in [next-DedupWindow, next) was handled
	held  map[uint64]payload
	timer supervisor.Timer // set while a gap is waited for
	gen   uint64           // which timer is current
}

// accept takes payload seq of the run, appending to d.out what can be
// handled now. It returns false for a copy of a payload handled or held.
func (r *run) accept(seq uint64, p payload, d *dedup) bool {
	if r.next == 0 {
		r.next = seq
	}
	switch {
	case seq < r.next:
		if seq+DedupWindow < r.next || r.bit(seq) {
			return false
		}
		// Its gap was given up on, but here it is: late beats lost.
		r.setBit(seq, true)
		d.reorder.counters.ReorderLate.Add(1)
		d.out = append(d.out, p)
		return true
	case seq > r.next:
		if _, ok := r.held[seq]; ok {
			return false
		}
		if r.held == nil {
			r.held = make(map[uint64]payload)
		}
		r.held[seq] = p
		d.heldBytes += p.size()
		if len(r.held) > d.reorder.held || d.heldBytes > d.reorder.bytes || bits.OnesCount64(r.rooms) < 2 {
			r.giveUp(d)
		} else {
			r.wait(d)
		}
		return true
	}
	d.out = append(d.out, p)
	r.advance(true)
	r.drain(d)
	return true
}

// drain hands on the held payloads that are next in order, and waits for
// the gap after them, if any.
func (r *run) drain(d *dedup) {
	for len(r.held) > 0 {
		p, ok := r.held[r.next]
		if !ok {
			break
		}
		delete(r.held, r.next)
		d.heldBytes -= p.size()
		d.out = append(d.out, p)
		r.advance(true)
	}
	r.stopTimer()
	if len(r.held) > 0 {
		r.wait(d)
	}
}

// giveUp skips the gap before the first held payload, counted, and hands
// on what follows it.
func (r *run) giveUp(d *dedup) {
	if len(r.held) == 0 {
		return
	}
	first := r.next
	for s := range r.held {
		if first == r.next || s < first {
			first = s
		}
	}
	gap := first - r.next
	if gap > DedupWindow { // only the window's worth is remembered
		r.next, gap = first-DedupWindow, DedupWindow
	}
	for ; gap > 0; gap-- {
		r.advance(false)
	}
	d.reorder.counters.ReorderGaps.Add(1)
	r.drain(d)
}

// flush gives up on every gap and hands on all that is held.
func (r *run) flush(d *dedup) {
	for len(r.held) > 0 {
		r.giveUp(d)
	}
	r.stopTimer()
}

// wait starts the timer for the current gap unless it runs already.
func (r *run) wait(d *dedup) {
	if r.timer != nil {
		return
	}
	r.gen++
	k, gen, wake := r.key, r.gen, d.reorder.wake
	r.timer = d.reorder.clock.AfterFunc(d.reorder.wait, func() { wake(k, gen) })
}

func (r *run) stopTimer() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

// advance moves next on by one, recording whether the seq it passes was
// handled.
func (r *run) advance(handled bool) {
	r.setBit(r.next, handled)
	r.next++
}

func (r *run) bit(seq uint64) bool {
	i := seq % DedupWindow
	return r.seen[i/64]&(1<<(i%64)) != 0
}

func (r *run) setBit(seq uint64, v bool) {
	i := seq % DedupWindow
	if v {
		r.seen[i/64] |= 1 << (i % 64)
	} else {
		r.seen[i/64] &^= 1 << (i % 64)
	}
}

// reorderTimeout tells the router actor that run's timer gen has fired.
type reorderTimeout struct {
	run nodeRun
	gen uint64
}

// reorderConfig is the router's: its timers tell the router actor, unless
// it is stopping (the message would be a dead letter).
func (r *Router) reorderConfig() reorderConfig {
	clock := r.cfg.Clock
	if clock == nil {
		clock = supervisor.SystemClock{}
	}
	wait := r.cfg.ReorderWait
	if wait <= 0 {
		wait = DefaultReorderWait
	}
	return reorderConfig{clock: clock, wait: wait, held: DefaultReorderHeld, bytes: DefaultReorderBytes, counters: r.counters,
		wake: func(k nodeRun, gen uint64) {
			r.tellRouter(func(pid *actor.PID) { r.cfg.System.Root.Send(pid, &reorderTimeout{k, gen}) })
		}}
}
