package presence_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/presence"
)

// room is a totally ordered log that the test delivers by hand.
type room struct {
	t     *testing.T
	now   time.Time
	log   []presence.Record
	cores map[string]*presence.Core
	next  map[string]int
}

func newRoom(t *testing.T, ids ...string) *room {
	r := &room{t: t, now: time.Unix(1700000000, 0), cores: map[string]*presence.Core{}, next: map[string]int{}}
	for i, id := range ids {
		c, err := presence.NewCore(presence.Self{ID: id, Inc: uint64(i + 1), Priority: len(ids) - i}, presence.FastTimings(), r.now)
		require.NoError(t, err)
		r.cores[id] = c
		r.post(c.Connect(r.now))
	}
	return r
}

func (r *room) post(recs []presence.Record) { r.log = append(r.log, recs...) }

// read delivers to id everything posted since it last read.
func (r *room) read(id string) {
	c := r.cores[id]
	for r.next[id] < len(r.log) {
		rec := r.log[r.next[id]]
		r.next[id]++
		out, err := c.Read(r.now, rec)
		require.NoError(r.t, err)
		r.post(out)
	}
}

// run advances time by d in ticks, every core reading and ticking.
func (r *room) run(d time.Duration, ids ...string) {
	for end := r.now.Add(d); r.now.Before(end); r.now = r.now.Add(50 * time.Millisecond) {
		for _, id := range ids {
			r.read(id)
			r.post(r.cores[id].Tick(r.now))
		}
	}
}

func (r *room) actives(ids ...string) []string {
	var a []string
	for _, id := range ids {
		if r.cores[id].Active() {
			a = append(a, id)
		}
	}
	return a
}

func TestCoreElectsOnceAndRenews(t *testing.T) {
	r := newRoom(t, "a", "b", "c")
	r.run(10*time.Second, "a", "b", "c")
	require.Len(t, r.actives("a", "b", "c"), 1)
	won := r.actives("a", "b", "c")[0]
	for _, id := range []string{"a", "b", "c"} {
		require.Equal(t, won, r.cores[id].Holder())
		require.True(t, r.cores[id].Ready())
	}
	term := r.cores[won].Term()
	r.run(time.Minute, "a", "b", "c")
	require.Equal(t, []string{won}, r.actives("a", "b", "c"))
	require.Equal(t, term, r.cores[won].Term())
}

// The active that stops hearing the room steps down exactly at its
// deadline, RenewDeadline after sending the last renewal it read back; the
// standbys claim only after it.
func TestCoreStepsDownByItsOwnClockFirst(t *testing.T) {
	r := newRoom(t, "a", "b")
	r.run(10*time.Second, "a", "b")
	a := r.actives("a", "b")[0]
	b := map[string]string{"a": "b", "b": "a"}[a]
	deadline := r.cores[a].Deadline()
	require.False(t, deadline.IsZero())
	// From now on a reads nothing (its socket is silent) but ticks.
	var stepped, took time.Time
	for r.now.Before(deadline.Add(10 * time.Second)) {
		r.now = r.now.Add(10 * time.Millisecond)
		r.post(r.cores[a].Tick(r.now))
		if !r.cores[a].Active() && stepped.IsZero() {
			stepped = r.now
		}
		r.read(b)
		r.post(r.cores[b].Tick(r.now))
		if r.cores[b].Active() && took.IsZero() {
			took = r.now
		}
		require.False(t, r.cores[a].Active() && r.cores[b].Active(), "two actives at %v", r.now)
	}
	require.False(t, stepped.After(deadline.Add(10*time.Millisecond)), "stepped down at %v, deadline %v", stepped, deadline)
	require.True(t, took.After(stepped))
	ft := presence.FastTimings()
	require.GreaterOrEqual(t, took.Sub(stepped), ft.LeaseDuration+ft.Grace-ft.RenewDeadline)
}

// Two claims for the next term: the first in room order wins in every
// view, the second names a state that no longer holds and loses, its
// sender included.
func TestCoreFirstClaimInRoomOrderWins(t *testing.T) {
	r := newRoom(t, "a", "b", "c")
	r.run(10*time.Second, "a", "b", "c")
	a := r.actives("a", "b", "c")[0]
	st := presence.Ref{Term: r.cores[a].Term(), Holder: a}
	// Forge the view: the holder's latest renewal, as every node saw it.
	var last presence.Record
	for _, rec := range r.log {
		if rec.Kind == presence.KindRenew && rec.Node == a {
			last = rec
		}
	}
	st.Inc, st.Seq = last.Inc, last.Seq
	others := []string{}
	for _, id := range []string{"a", "b", "c"} {
		if id != a {
			others = append(others, id)
		}
	}
	claim := func(id string) presence.Record {
		ref := st
		return presence.Record{V: 1, Kind: presence.KindClaim, Node: id, Inc: incOf(r, id), Term: st.Term + 1, Seq: 100, Ref: &ref}
	}
	first, second := claim(others[0]), claim(others[1])
	r.post([]presence.Record{first, second})
	for _, id := range []string{"a", "b", "c"} {
		r.read(id)
		require.Equal(t, others[0], r.cores[id].Holder(), "%s's view", id)
		require.Equal(t, st.Term+1, r.cores[id].Term())
	}
	require.False(t, r.cores[a].Active(), "the old active stands down on reading the winning claim")
}

func incOf(r *room, id string) uint64 {
	for _, rec := range r.log {
		if rec.Node == id {
			return rec.Inc
		}
	}
	return 0
}

// A node that has just connected does not trust a renewal that does not
// acknowledge its hello: it may be a late post of a holder long gone.
func TestCoreIgnoresUnacknowledgedRenewals(t *testing.T) {
	r := newRoom(t, "a")
	r.read("a")
	late := presence.Record{V: 1, Kind: presence.KindRenew, Node: "z", Inc: 9, Term: 7, Seq: 3}
	_, err := r.cores["a"].Read(r.now, late)
	require.NoError(t, err)
	require.False(t, r.cores["a"].Ready())
	require.Empty(t, r.cores["a"].Holder())
	acked := late
	acked.Seq, acked.Acks = 4, []presence.Ack{{Node: "a", Inc: 1, Nonce: 1}}
	_, err = r.cores["a"].Read(r.now, acked)
	require.NoError(t, err)
	require.Equal(t, "z", r.cores["a"].Holder())
	require.Equal(t, uint64(7), r.cores["a"].Term())
}

func TestCoreRefusesBadRecords(t *testing.T) {
	r := newRoom(t, "a")
	for _, rec := range []presence.Record{
		{V: 0, Kind: presence.KindBeat, Node: "x"},
		{V: 1, Kind: "gossip", Node: "x"},
		{V: 1, Kind: presence.KindBeat},
		{V: 1, Kind: presence.KindClaim, Node: "x"},
		{V: 1, Kind: presence.KindBeat, Node: "x", Lease: -1},
		{V: 1, Kind: presence.KindRenew, Node: "x", Acks: make([]presence.Ack, 33)},
	} {
		_, err := r.cores["a"].Read(r.now, rec)
		require.ErrorIs(t, err, presence.ErrBadRecord, "%+v", rec)
	}
	require.Len(t, r.cores["a"].Members(), 0)
}

func TestTimingsAndOptionsChecked(t *testing.T) {
	bad := presence.FastTimings()
	bad.RenewDeadline = bad.LeaseDuration + bad.Grace
	_, err := presence.NewCore(presence.Self{ID: "a"}, bad, time.Now())
	require.ErrorIs(t, err, presence.ErrInvalidOption)
	bad = presence.FastTimings()
	bad.RenewInterval = bad.RenewDeadline
	require.ErrorIs(t, presence.WithTimings(bad)(nil), presence.ErrInvalidOption)
	require.ErrorIs(t, presence.WithClock(nil)(nil), presence.ErrInvalidOption)
	require.ErrorIs(t, presence.WithForce("sideways")(nil), presence.ErrInvalidOption)
	require.ErrorIs(t, presence.WithSmokeDetectorPing("")(nil), presence.ErrInvalidOption)
	require.InDelta(t, 1.5, presence.DefaultTimings().MaxRateRatio(), 0.01)
	require.InDelta(t, 1.5, presence.FastTimings().MaxRateRatio(), 0.02)
}

// A vacancy claim can win a term no higher than one a node knew (its
// sender missed that term while away); that node says so, and the new
// active claims past it, so the fencing token keeps increasing.
func TestCoreFencingTokenKeepsIncreasing(t *testing.T) {
	r := &room{t: t, now: time.Unix(1700000000, 0), cores: map[string]*presence.Core{}, next: map[string]int{}}
	for i, id := range []string{"a", "b"} {
		c, err := presence.NewCore(presence.Self{ID: id, Inc: uint64(i + 1)}, presence.FastTimings(), r.now)
		require.NoError(t, err)
		r.cores[id] = c
	}
	r.post(r.cores["b"].Force(r.now, presence.ForceStandby))
	r.post(r.cores["b"].Connect(r.now))
	r.read("b")
	// b learns that z held term 5 (z then dies).
	r.post([]presence.Record{{V: 1, Kind: presence.KindRenew, Node: "z", Inc: 9, Term: 5, Seq: 3,
		Acks: []presence.Ack{{Node: "b", Inc: 2, Nonce: 1}}}})
	r.read("b")
	require.Equal(t, uint64(5), r.cores["b"].Term())
	r.next["a"] = len(r.log) // a never saw term 5
	r.post(r.cores["a"].Connect(r.now))
	r.run(20*time.Second, "a", "b")
	var terms []uint64
	for _, ev := range r.cores["a"].Events() {
		if ev.Kind == presence.EventTerm && ev.Holder == "a" {
			terms = append(terms, ev.Term)
		}
	}
	require.Equal(t, []uint64{1, 6}, terms, "won term 1 (all it knew), then claimed past term 5")
	require.True(t, r.cores["a"].Active())
	require.Greater(t, r.cores["a"].Term(), uint64(5))
	require.Equal(t, r.cores["a"].Term(), r.cores["b"].Term())
	require.Equal(t, "a", r.cores["b"].Holder())
}
