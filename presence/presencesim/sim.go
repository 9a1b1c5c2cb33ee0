// Package presencesim runs presence's election Core, the pure state machine
// that every presence.Presence drives, over a simulated chat room: one
// totally ordered log, posts that land late or never, readers that lag,
// stall or lose what was said while their socket was down, clocks that run
// at their own rates, and nodes that die. Time is simulated, so a schedule
// of minutes runs in milliseconds and every run is reproducible from its
// seed.
//
// It checks, at every instant of simulated time, that no two live nodes
// are active at once; that after the faults heal an active appears; that
// after the active dies a new one appears within LeaseDuration + Grace +
// RenewInterval (scaled by the slowest clock's rate); and, in schedules
// where the active stays healthy, that leadership never changes. Real
// Nodes over memchat are exercised by presence's own tests; this package is
// what makes thousands of schedules affordable.
package presencesim

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/socketscience/socketscience/presence"
)

// Config is one family of schedules.
type Config struct {
	// Timings for every node. Defaults to presence.FastTimings().
	Timings presence.Timings
	// Healthy keeps the active healthy (its posts are only throttled, its
	// socket stays up) while standbys suffer every fault: leadership must
	// not change. Otherwise any node, the active included, is faulted.
	Healthy bool
	// RateSpread is how far each clock's rate may be from real time: rates
	// are drawn from [1-RateSpread, 1+RateSpread]. Defaults to 0.1, a ratio
	// of 1.22, within FastTimings' bound of 1.51.
	RateSpread float64
	// Chaos is how long faults are injected. Defaults to 90 s.
	Chaos time.Duration
	// Quiet injects no faults: for measuring what presence costs at rest.
	Quiet bool
	// Trace, if set, is told every record read and every fault.
	Trace func(at time.Duration, what string)
}

// Result is what one schedule showed.
type Result struct {
	Seed  uint64
	Nodes int
	// SplitBrain is the simulated time during which two or more live nodes
	// were active, and SplitBrainInstants how many times that began.
	SplitBrain         time.Duration
	SplitBrainInstants int
	// Changes counts the times the active changed after the first election.
	Changes int
	// HealTime is how long after the faults healed an active was seen;
	// Failover how long after the active was killed a new one started, and
	// FailoverBound what the guarantee allows.
	HealTime      time.Duration
	Failover      time.Duration
	FailoverBound time.Duration
	// Posts counts presence records posted, by role when posted, and
	// ActiveTime and StandbyTime the node-time spent in each role (alive);
	// Elapsed is the simulated time.
	ActivePosts, StandbyPosts int
	ActiveTime, StandbyTime   time.Duration
	Elapsed                   time.Duration
	// Err says which guarantee failed, nil if none.
	Err error
}

type entry struct {
	rec  presence.Record
	land time.Duration
}

type node struct {
	id        string
	core      *presence.Core
	rate      float64
	offset    time.Duration
	alive     bool
	connected bool
	epoch     int
	next      int // next log entry to read
	reading   bool
	stallTill time.Duration
	// Faults, as until-times.
	postsFailTill time.Duration
	throttleTill  time.Duration
	throttle      time.Duration
}

type event struct {
	at   time.Duration
	seq  int
	kind int
	node int
	gen  int
	rec  presence.Record
}

const (
	evTick = iota
	evLand
	evRead
	evDown
	evUp
	evStall
	evKill
	evHeal
)

type queue []*event

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *queue) Pop() any     { old := *q; e := old[len(old)-1]; *q = old[:len(old)-1]; return e }
func (w *world) at(e *event)  { w.seq++; e.seq = w.seq; heap.Push(&w.q, e) }
func (w *world) local(i int) time.Time {
	n := w.nodes[i]
	return epoch.Add(n.offset + time.Duration(float64(w.now)*n.rate))
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type world struct {
	cfg    Config
	rng    *rand.Rand
	t      presence.Timings
	nodes  []*node
	log    []entry
	q      queue
	seq    int
	now    time.Duration
	gapped bool // a socket that was down misses what was said (memchat, IRC); else it resumes (sechat)
	res    Result

	healed      bool
	healAt      time.Duration
	settled     time.Duration
	firstActive time.Duration
	killAt      time.Duration
	killed      int
	lastActive  int
	overlapAt   time.Duration
	overlap     bool
	minRate     float64
	activeOf    []bool
	alive       time.Duration // node-time alive, summed
}

// Run plays the schedule drawn from seed and reports what it showed.
func Run(seed uint64, cfg Config) Result {
	if cfg.Timings == (presence.Timings{}) {
		cfg.Timings = presence.FastTimings()
	}
	if cfg.RateSpread == 0 {
		cfg.RateSpread = 0.1
	}
	if cfg.Chaos == 0 {
		cfg.Chaos = 90 * time.Second
	}
	w := &world{cfg: cfg, t: cfg.Timings, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), killed: -1, lastActive: -1, minRate: 2}
	w.res.Seed = seed
	w.gapped = w.rng.IntN(2) == 0
	n := 3 + w.rng.IntN(3)
	w.res.Nodes = n
	w.activeOf = make([]bool, n)
	for i := range n {
		nd := &node{id: fmt.Sprintf("n%d", i), alive: true,
			rate:   1 + (2*w.rng.Float64()-1)*cfg.RateSpread,
			offset: time.Duration(w.rng.Int64N(int64(time.Hour))) - 30*time.Minute}
		w.minRate = min(w.minRate, nd.rate)
		w.nodes = append(w.nodes, nd)
		core, err := presence.NewCore(presence.Self{ID: nd.id, Inc: uint64(i + 1), Priority: w.rng.IntN(3), Start: epoch}, cfg.Timings, w.local(i))
		if err != nil {
			w.res.Err = err
			return w.res
		}
		nd.core = core
		w.at(&event{at: time.Duration(w.rng.Int64N(int64(2 * time.Second))), kind: evUp, node: i})
		w.at(&event{at: time.Duration(w.rng.Int64N(int64(cfg.Timings.Tick))), kind: evTick, node: i})
	}
	if !cfg.Quiet {
		w.schedule()
	}
	w.healAt = w.cfg.Chaos
	w.at(&event{at: w.healAt, kind: evHeal})
	end := w.healAt + 20*w.bound()
	for w.q.Len() > 0 && w.res.Err == nil && w.res.Failover == 0 {
		e := heap.Pop(&w.q).(*event)
		if e.at > end {
			break
		}
		w.now = e.at
		w.handle(e)
		w.check()
	}
	w.res.Elapsed = w.now
	for i, nd := range w.nodes {
		if w.activeOf[i] {
			w.res.ActiveTime += w.now
		}
		if nd.alive {
			w.alive += w.now
		}
	}
	w.res.StandbyTime = w.alive - w.res.ActiveTime
	if w.res.Err == nil && w.killed >= 0 && w.res.Failover == 0 {
		w.res.Err = fmt.Errorf("no new active after the active was killed at %v", w.killAt)
	}
	if w.res.Err == nil && w.killed < 0 {
		w.res.Err = fmt.Errorf("no active within %v of healing", w.healBound())
	}
	return w.res
}

// bound is the failover guarantee in real time: LeaseDuration + Grace +
// RenewInterval by the slowest clock.
func (w *world) bound() time.Duration {
	return time.Duration(float64(w.t.LeaseDuration+w.t.Grace+w.t.RenewInterval) / w.minRate)
}

// healBound is how soon after healing an active must exist: a node may
// need to see its hello back, wait out a lease of records it could not
// judge and then a vacancy: three leases.
func (w *world) healBound() time.Duration { return 3*w.bound() + w.t.StandbyInterval }

// schedule draws the faults.
func (w *world) schedule() {
	chaos := w.cfg.Chaos
	faults := 10 + w.rng.IntN(30)
	for range faults {
		at := time.Duration(w.rng.Int64N(int64(chaos)))
		i := w.rng.IntN(len(w.nodes))
		dur := time.Duration(w.rng.Int64N(int64(4 * w.t.LeaseDuration)))
		switch w.rng.IntN(6) {
		case 0: // a broken socket, back after dur
			w.at(&event{at: at, kind: evDown, node: i, gen: -1})
			w.at(&event{at: at + dur, kind: evUp, node: i})
		case 1: // flapping: several short breaks
			for k := range 2 + w.rng.IntN(5) {
				t := at + time.Duration(k)*300*time.Millisecond
				w.at(&event{at: t, kind: evDown, node: i, gen: -1})
				w.at(&event{at: t + 100*time.Millisecond, kind: evUp, node: i})
			}
		case 2: // posts fail until dur has passed; the node's queue posts them after
			w.at(&event{at: at, kind: evStall, node: i, gen: 1, rec: presence.Record{Lease: int64(dur)}})
		case 3: // throttled posts
			w.at(&event{at: at, kind: evStall, node: i, gen: 2, rec: presence.Record{Lease: int64(dur)}})
		case 4: // a reader that stalls, then resumes in order
			w.at(&event{at: at, kind: evStall, node: i, gen: 3, rec: presence.Record{Lease: int64(dur)}})
		case 5: // isolated: socket down and posts failing
			w.at(&event{at: at, kind: evStall, node: i, gen: 1, rec: presence.Record{Lease: int64(dur)}})
			w.at(&event{at: at, kind: evDown, node: i, gen: -1})
			w.at(&event{at: at + dur, kind: evUp, node: i})
		}
	}
	if !w.cfg.Healthy && w.rng.IntN(2) == 0 {
		// Kill the active once mid-chaos too (it restarts as a new node? no:
		// it stays dead), besides the kill after healing.
		w.at(&event{at: chaos / 2, kind: evKill, node: -2})
	}
}

// faultable reports whether node i may suffer a fault now.
func (w *world) faultable(i int) bool {
	if w.healed || !w.nodes[i].alive {
		return false
	}
	if w.cfg.Healthy && (w.firstActive == 0 || w.now < w.firstActive+2*w.t.RenewDeadline) {
		return false // the healthy schedules fault the standbys of an established active
	}
	return !w.cfg.Healthy || !w.activeOf[i]
}

func (w *world) handle(e *event) {
	if w.cfg.Trace != nil && e.kind != evTick && e.kind != evRead {
		w.cfg.Trace(w.now, fmt.Sprintf("event %d node %d gen %d", e.kind, e.node, e.gen))
	}
	nd := (*node)(nil)
	if e.node >= 0 {
		nd = w.nodes[e.node]
	}
	switch e.kind {
	case evTick:
		if !nd.alive {
			return
		}
		w.post(e.node, nd.core.Tick(w.local(e.node)))
		w.at(&event{at: w.now + time.Duration(float64(w.t.Tick)/nd.rate), kind: evTick, node: e.node})
	case evLand:
		w.log = append(w.log, entry{rec: e.rec, land: w.now})
		for i := range w.nodes {
			w.pump(i)
		}
	case evRead:
		if !nd.alive || e.gen != nd.epoch || !nd.connected {
			return
		}
		nd.reading = false
		if w.now < nd.stallTill || nd.next >= len(w.log) {
			w.pump(e.node)
			return
		}
		ent := w.log[nd.next]
		nd.next++
		if w.cfg.Trace != nil {
			w.cfg.Trace(w.now, fmt.Sprintf("%s reads %s %s term=%d seq=%d ref=%+v n=%d", nd.id, ent.rec.Node, ent.rec.Kind, ent.rec.Term, ent.rec.Seq, ent.rec.Ref, ent.rec.Nonce))
		}
		out, err := nd.core.Read(w.local(e.node), ent.rec)
		if err != nil {
			w.res.Err = fmt.Errorf("%s read %+v: %w", nd.id, ent.rec, err)
			return
		}
		w.post(e.node, out)
		w.pump(e.node)
	case evDown:
		if !w.faultable(e.node) || !nd.connected {
			return
		}
		nd.connected = false
		nd.epoch++
		nd.reading = false
		nd.core.Disconnect(w.local(e.node))
	case evUp:
		if !nd.alive || nd.connected {
			return
		}
		nd.connected = true
		nd.epoch++
		if w.gapped {
			nd.next = len(w.log)
		}
		w.post(e.node, nd.core.Connect(w.local(e.node)))
		w.pump(e.node)
	case evStall:
		if !w.faultable(e.node) && (e.gen != 2 || !nd.alive || w.healed) {
			return // throttling alone may hit a healthy active
		}
		till := w.now + time.Duration(e.rec.Lease)
		switch e.gen {
		case 1:
			nd.postsFailTill = till
		case 2:
			nd.throttleTill = till
			nd.throttle = time.Duration(w.rng.Int64N(int64(w.maxThrottle())))
		case 3:
			nd.stallTill = till
		}
	case evKill:
		i := e.node
		if i == -2 {
			i = w.activeNode()
			if i < 0 || w.liveCount() <= 2 {
				return
			}
		}
		w.die(i)
	case evHeal:
		w.healed = true
		for i, nd := range w.nodes {
			nd.postsFailTill, nd.throttleTill, nd.stallTill = 0, 0, 0
			if nd.alive && !nd.connected {
				w.handle(&event{kind: evUp, node: i})
			}
			// A stalled reader's pending read is due now.
			nd.epoch++
			nd.reading = false
			w.pump(i)
		}
	}
}

// maxThrottle is the longest a healthy active's post may be held back
// without a failover: RenewDeadline - RenewInterval, less a margin for
// reading it back and for the clock rates.
func (w *world) maxThrottle() time.Duration {
	return (w.t.RenewDeadline - w.t.RenewInterval) * 6 / 10
}

// post sends a node's records: each lands after the room's delay, after
// the node's posts stop failing, or never if it dies first.
func (w *world) post(i int, recs []presence.Record) {
	nd := w.nodes[i]
	for _, r := range recs {
		if r.Kind == presence.KindRenew || (w.activeOf[i] && r.Kind != presence.KindClaim) {
			w.res.ActivePosts++
		} else {
			w.res.StandbyPosts++
		}
		d := 20*time.Millisecond + time.Duration(w.rng.Int64N(int64(150*time.Millisecond)))
		if w.now < nd.throttleTill {
			d += nd.throttle
		}
		land := w.now + d
		if !nd.connected || w.now < nd.postsFailTill {
			// The node's queue holds the post until it can post again; a
			// post whose outcome was unknown may land even later.
			land = max(land, nd.postsFailTill) + time.Duration(w.rng.Int64N(int64(w.t.RenewInterval)))
			if !nd.connected {
				land += w.t.LeaseDuration
			}
		}
		w.at(&event{at: land, kind: evLand, node: i, rec: r})
	}
}

// pump schedules node i's next read.
func (w *world) pump(i int) {
	nd := w.nodes[i]
	if !nd.alive || !nd.connected || nd.reading || nd.next >= len(w.log) {
		return
	}
	lag := 5*time.Millisecond + time.Duration(w.rng.Int64N(int64(50*time.Millisecond)))
	at := max(w.now, w.log[nd.next].land+lag, nd.stallTill)
	nd.reading = true
	w.at(&event{at: at, kind: evRead, node: i, gen: nd.epoch})
}

func (w *world) activeNode() int {
	for i, nd := range w.nodes {
		if nd.alive && nd.core.Active() {
			return i
		}
	}
	return -1
}

// die kills node i now.
func (w *world) die(i int) {
	if w.activeOf[i] {
		w.res.ActiveTime += w.now
	}
	w.nodes[i].alive = false
	w.activeOf[i] = false
	w.alive += w.now
}

// allReady reports whether every live node could take over.
func (w *world) allReady() bool {
	for _, nd := range w.nodes {
		if nd.alive && !nd.core.Ready() {
			return false
		}
	}
	return true
}

func (w *world) liveCount() int {
	c := 0
	for _, nd := range w.nodes {
		if nd.alive {
			c++
		}
	}
	return c
}

// check holds the guarantees after every event.
func (w *world) check() {
	actives := 0
	cur := -1
	for i, nd := range w.nodes {
		a := nd.alive && nd.core.Active()
		if a != w.activeOf[i] && w.cfg.Trace != nil {
			w.cfg.Trace(w.now, fmt.Sprintf("%s active=%t %s", nd.id, a, nd.core))
		}
		if a != w.activeOf[i] {
			if a {
				w.res.ActiveTime -= w.now
			} else {
				w.res.ActiveTime += w.now
			}
		}
		w.activeOf[i] = a
		if a && w.cfg.Healthy {
			// The healthy schedules keep the active healthy: faults it
			// suffered as a standby end when it wins.
			nd.postsFailTill, nd.stallTill = 0, 0
		}
		if a {
			actives++
			cur = i
		}
	}
	switch {
	case actives > 1 && !w.overlap:
		w.overlap, w.overlapAt = true, w.now
		w.res.SplitBrainInstants++
		w.res.Err = fmt.Errorf("two actives at %v", w.now)
	case actives <= 1 && w.overlap:
		w.overlap = false
		w.res.SplitBrain += w.now - w.overlapAt
	}
	if cur >= 0 && w.firstActive == 0 {
		w.firstActive = w.now
	}
	if cur >= 0 && cur != w.lastActive {
		if w.lastActive >= 0 {
			w.res.Changes++
			if w.cfg.Healthy && !w.healed {
				w.res.Err = fmt.Errorf("leadership moved from %s to %s at %v while the active was healthy",
					w.nodes[w.lastActive].id, w.nodes[cur].id, w.now)
			}
		}
		w.lastActive = cur
	}
	if !w.healed {
		return
	}
	switch {
	case w.killed < 0 && cur >= 0 && w.res.HealTime == 0:
		w.res.HealTime = w.now - w.healAt
		if w.res.HealTime > w.healBound() {
			w.res.Err = fmt.Errorf("an active only %v after healing", w.res.HealTime)
		}
		// Let every node settle (reconnect, see its hello back, read a
		// renewal) before killing the active.
		w.settled = w.now + 2*(w.t.LeaseDuration+w.t.Grace)
	case w.killed < 0 && cur >= 0 && w.now >= w.settled && w.allReady():
		if w.liveCount() < 2 {
			w.killed = cur // nobody left to take over
			w.res.Failover = -1
			return
		}
		w.killed, w.killAt = cur, w.now
		w.die(cur)
		w.res.FailoverBound = w.bound()
	case w.killed >= 0 && w.res.Failover == 0 && cur >= 0:
		w.res.Failover = w.now - w.killAt
		if w.res.Failover > w.res.FailoverBound {
			w.res.Err = fmt.Errorf("failover took %v, bound %v", w.res.Failover, w.res.FailoverBound)
		}
	case w.killed < 0 && w.res.HealTime == 0 && w.now-w.healAt > w.healBound():
		w.res.Err = fmt.Errorf("no active within %v of healing", w.healBound())
	case w.killed < 0 && w.now-w.healAt > 2*w.healBound():
		var states []string
		for _, nd := range w.nodes {
			if nd.alive {
				states = append(states, nd.core.String())
			}
		}
		w.res.Err = fmt.Errorf("nodes not all ready %v after healing: %q", w.now-w.healAt, states)
	}
}
