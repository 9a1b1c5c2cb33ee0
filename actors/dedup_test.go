package actors

import (
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/internal/protocol"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dedupRig is a dedup on a fake clock whose reorder timers call expire
// directly, as the router actor would on their message.
type dedupRig struct {
	d        *dedup
	clock    *fakeclock.Clock
	counters metrics.Counters
	got      []string // "type" of every payload handed on, in order
	dups     int
}

func newRig(t testing.TB, nodes, ids, bodies int) *dedupRig {
	t.Helper()
	g := &dedupRig{clock: fakeclock.New(time.Unix(1_700_000_000, 0))}
	g.d = newDedup(nodes, ids, bodies, reorderConfig{clock: g.clock, wait: DefaultReorderWait, held: 4, bytes: 6, counters: &g.counters,
		wake: func(k nodeRun, gen uint64) { g.collect(g.d.expire(k, gen)) }})
	return g
}

func (g *dedupRig) collect(ps []payload) {
	for _, p := range ps {
		for _, t := range p.types {
			g.got = append(g.got, t.Type)
		}
	}
}

// in delivers a frame from room, chat message id, with types each
// belonging to the payload seq given (seqs nil: no envelope).
func (g *dedupRig) in(room int, id int64, node string, seqs []uint64, types ...string) {
	f := messages.Frame{}
	for _, t := range types {
		f.Types = append(f.Types, messages.RawType{Type: t, Data: []byte{1}})
	}
	if seqs != nil {
		env := &messages.Envelope{Node: node, Incarnation: 1, Seq: seqs[0]}
		if len(seqs) > 1 {
			for _, s := range seqs {
				env.Offsets = append(env.Offsets, s-seqs[0])
			}
		}
		f.Envelope = env
	}
	out, dups := g.d.admit(&protocol.Inbound{Frame: f, Chat: protocol.ChatRef{ID: id, UserID: 7}, Room: room}, payload{})
	g.collect(out)
	g.dups += dups
}

// twice delivers node's payload seq through rooms 0 and 1: the run is
// then heard through two rooms, and waits for gaps.
func (g *dedupRig) twice(node string, seq uint64, typ string) {
	g.in(0, 0, node, []uint64{seq}, typ)
	g.in(1, 0, node, []uint64{seq}, typ)
}

func (g *dedupRig) take() []string {
	got := g.got
	g.got = nil
	return got
}

func TestDedupChatIDsPerRoom(t *testing.T) {
	g := newRig(t, 8, 3, 8)
	g.in(0, 1, "", nil, "a")
	g.in(0, 1, "", nil, "a")
	assert.Equal(t, 1, g.dups, "the same chat message again (an edit, a replay)")
	g.in(1, 1, "", nil, "b")
	assert.Equal(t, []string{"a", "b"}, g.take(), "id 1 in another room is another message")
	g.in(0, 0, "", nil, "c")
	g.in(0, 0, "", nil, "c")
	assert.Equal(t, []string{"c", "c"}, g.take(), "an unknown id is never a duplicate, and a repeat in one room is new")
	// Memory is bounded: each room's oldest ids are forgotten.
	g.in(0, 2, "", nil, "d")
	g.in(0, 3, "", nil, "e")
	g.in(0, 4, "", nil, "f")
	assert.Equal(t, 4, g.d.ids.len(), "3 of room 0, 1 of room 1")
	g.in(0, 1, "", nil, "g")
	g.in(1, 1, "", nil, "h")
	assert.Equal(t, []string{"d", "e", "f", "g"}, g.take(), "id 1 of room 0 was forgotten, not room 1's")
}

func TestDedupPayloadsAcrossRooms(t *testing.T) {
	g := newRig(t, 8, 64, 8)
	// Room 0 merged payloads 1 and 2; room 1 posted them apart.
	g.in(0, 10, "n", []uint64{1, 2}, "a", "b")
	g.in(1, 10, "n", []uint64{1}, "a")
	g.in(1, 11, "n", []uint64{2}, "b")
	g.in(1, 12, "n", []uint64{3}, "c")
	g.in(0, 11, "n", []uint64{3, 4}, "c", "d")
	assert.Equal(t, []string{"a", "b", "c", "d"}, g.take())
	assert.Equal(t, 3, g.dups)
	g.in(0, 20, "m", []uint64{1}, "x")
	assert.Equal(t, []string{"x"}, g.take(), "another node's seqs are its own")
}

// A payload ahead of a gap waits for the missing one from the slower room,
// and both go in order.
func TestReorderFillsGap(t *testing.T) {
	g := newRig(t, 8, 64, 8)
	g.twice("n", 1, "p1")
	g.in(0, 2, "n", []uint64{3}, "p3") // room 0 dropped its copy of 2
	assert.Equal(t, []string{"p1"}, g.take())
	assert.Equal(t, 1, g.clock.Pending(), "the wait for the gap")
	g.in(1, 2, "n", []uint64{2}, "p2")
	assert.Equal(t, []string{"p2", "p3"}, g.take())
	assert.Zero(t, g.clock.Pending(), "the gap is filled: no timer left")
	g.in(1, 3, "n", []uint64{3}, "p3")
	assert.Empty(t, g.take())
	assert.Equal(t, 2, g.dups)
	assert.Zero(t, g.counters.ReorderGaps.Load())
}

// A gap no room fills is given up on after DefaultReorderWait (not a
// moment before), counted; the missing payload, should it come later
// still, is handled then, late rather than lost, and once.
func TestReorderGivesUpAfterWait(t *testing.T) {
	g := newRig(t, 8, 64, 8)
	g.twice("n", 1, "p1")
	g.in(0, 2, "n", []uint64{3}, "p3")
	g.in(0, 3, "n", []uint64{4}, "p4")
	assert.Equal(t, []string{"p1"}, g.take())
	g.clock.Advance(DefaultReorderWait - time.Nanosecond)
	assert.Empty(t, g.take())
	g.clock.Advance(time.Nanosecond)
	assert.Equal(t, []string{"p3", "p4"}, g.take())
	assert.Equal(t, int64(1), g.counters.ReorderGaps.Load())
	g.in(1, 2, "n", []uint64{2}, "p2")
	g.in(2, 2, "n", []uint64{2}, "p2")
	assert.Equal(t, []string{"p2"}, g.take())
	assert.Equal(t, int64(1), g.counters.ReorderLate.Load())
	assert.Equal(t, 2, g.dups)
}

// Holding is bounded: one payload past the bound gives up on the gap at
// once.
func TestReorderHeldIsBounded(t *testing.T) {
	g := newRig(t, 8, 64, 8)
	g.twice("n", 1, "p1")
	for i := range 4 {
		g.in(0, int64(10+i), "n", []uint64{uint64(3 + i)}, "q"+strconv.Itoa(3+i))
	}
	assert.Equal(t, []string{"p1"}, g.take())
	g.in(0, 20, "n", []uint64{7}, "q7")
	assert.Equal(t, []string{"q3", "q4", "q5", "q6", "q7"}, g.take())
	assert.Equal(t, int64(1), g.counters.ReorderGaps.Load())
	assert.Zero(t, g.clock.Pending())
}

// A seq far ahead (a hostile or broken peer) costs a window's worth of
// work, not the distance; older seqs than the window are copies.
func TestReorderFarAhead(t *testing.T) {
	g := newRig(t, 8, 64, 8)
	g.twice("n", 1, "p1")
	g.in(0, 2, "n", []uint64{math.MaxUint64 - 1}, "far")
	g.clock.Advance(DefaultReorderWait)
	assert.Equal(t, []string{"p1", "far"}, g.take())
	g.in(0, 3, "n", []uint64{2}, "old")
	assert.Empty(t, g.take())
	assert.Equal(t, 2, g.dups)
}

// Frames without an envelope (SmokeDetector's): a copy from another room
// is dropped, a repeat in the same room is a new payload, and the memory
// of them ages out.
func TestDedupBodiesAcrossRooms(t *testing.T) {
	g := newRig(t, 8, 64, 8)
	g.in(0, 1, "", nil, "beverage")
	g.in(1, 1, "", nil, "beverage")
	g.in(2, 5, "", nil, "beverage")
	assert.Equal(t, []string{"beverage"}, g.take())
	assert.Equal(t, 2, g.dups)
	g.in(0, 2, "", nil, "beverage")
	assert.Equal(t, []string{"beverage"}, g.take(), "a repeat in room 0 is SmokeDetector sending it again")
	g.in(1, 2, "", nil, "beverage")
	assert.Empty(t, g.take(), "whose copy in room 1 is dropped")
	g.clock.Advance(DefaultDedupBodyAge)
	g.in(2, 6, "", nil, "beverage")
	assert.Equal(t, []string{"beverage"}, g.take(), "after DefaultDedupBodyAge it is new")
}

// With one room there is no other room to bring a copy: nothing is
// remembered of frames without an envelope, and each is handled.
func TestDedupOneRoomRemembersNoBodies(t *testing.T) {
	g := newRig(t, 8, 64, 8)
	g.d.oneRoom = true
	g.in(0, 1, "", nil, "beverage")
	g.in(0, 2, "", nil, "beverage")
	g.in(0, 2, "", nil, "beverage")
	assert.Equal(t, []string{"beverage", "beverage"}, g.take())
	assert.Equal(t, 1, g.dups, "the same chat message twice is still one")
	assert.Empty(t, g.d.bodies)
}

// Runs are bounded: the oldest is forgotten, and what it held is handed on.
func TestDedupForgetsOldestRun(t *testing.T) {
	g := newRig(t, 2, 64, 8)
	g.twice("a", 1, "a1")
	g.in(0, 2, "a", []uint64{3}, "a3")
	g.in(0, 3, "b", []uint64{1}, "b1")
	g.in(0, 4, "c", []uint64{1}, "c1")
	assert.Equal(t, []string{"a1", "b1", "a3", "c1"}, g.take())
	assert.Len(t, g.d.runs, 2)
	assert.Zero(t, g.clock.Pending(), "a forgotten run's timer is stopped")
}

// A sender heard through one room only: nothing can fill its gaps, so
// none is waited for (a payload its room dropped), counted all the same.
func TestReorderHeardInOneRoomWaitsNot(t *testing.T) {
	g := newRig(t, 8, 64, 8)
	g.in(0, 1, "n", []uint64{1}, "p1")
	g.in(0, 2, "n", []uint64{3}, "p3")
	assert.Equal(t, []string{"p1", "p3"}, g.take())
	assert.Zero(t, g.clock.Pending())
	assert.Equal(t, int64(1), g.counters.ReorderGaps.Load())
}

// FuzzReorder checks, for any order of arrival of payloads through up to
// three rooms, with copies missing and repeated: every payload that arrives
// is handed on once, and in seq order unless its gap was given up on.
func FuzzReorder(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 1, 0, 2, 3})
	f.Add([]byte{5, 4, 3, 2, 1, 0, 0, 1, 2, 3, 4, 5})
	f.Add([]byte{0, 0xff, 9, 0x80, 3, 3, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 512 {
			return
		}
		g := newRig(t, 8, 64, 8)
		arrived := map[uint64]bool{}
		for i, c := range b {
			if c == 0xff {
				g.clock.Advance(DefaultReorderWait)
				continue
			}
			seq := uint64(c%32) + 1
			arrived[seq] = true
			g.in(int(c/32)%3, int64(i+1), "n", []uint64{seq}, strconv.FormatUint(seq, 10))
		}
		g.collect(g.d.flushAll())
		got := g.take()
		var want []string
		for s := range arrived {
			want = append(want, strconv.FormatUint(s, 10))
		}
		slices.Sort(want)
		sorted := slices.Clone(got)
		slices.Sort(sorted)
		require.Equal(t, want, sorted, "each payload that arrived, once")
		if g.counters.ReorderGaps.Load() == 0 && g.counters.ReorderLate.Load() == 0 {
			require.True(t, slices.IsSortedFunc(got, func(a, b string) int {
				x, _ := strconv.Atoi(a)
				y, _ := strconv.Atoi(b)
				return x - y
			}), "in order: %v", got)
		}
	})
}

// What all senders hold is bounded by bytes too: the sender whose payload
// goes over gives up on its gap at once. Each rig payload's type holds a
// byte; the rig's bound is 6.
func TestReorderBytesAreBounded(t *testing.T) {
	g := newRig(t, 8, 64, 8)
	for _, node := range []string{"a", "b", "c"} {
		g.twice(node, 1, node+"1")
		g.in(0, 0, node, []uint64{3}, node+"3")
		g.in(0, 0, node, []uint64{4}, node+"4")
	}
	assert.Equal(t, []string{"a1", "b1", "c1"}, g.take())
	assert.Equal(t, 6, g.d.heldBytes)
	g.in(0, 0, "c", []uint64{5}, "c5")
	assert.Equal(t, []string{"c3", "c4", "c5"}, g.take())
	assert.Equal(t, 4, g.d.heldBytes)
	assert.Equal(t, int64(1), g.counters.ReorderGaps.Load())
	g.collect(g.d.flushAll())
	assert.Equal(t, []string{"a3", "a4", "b3", "b4"}, sortedTake(g))
	assert.Zero(t, g.d.heldBytes)
}

func sortedTake(g *dedupRig) []string {
	got := g.take()
	slices.Sort(got)
	return got
}
