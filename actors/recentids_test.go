package actors

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// idModel is what recentIDs must behave as: a set, and a FIFO of each
// room's last max keys.
type idModel struct {
	max  int
	set  map[chatKey]bool
	fifo map[int][]chatKey
}

func newIDModel(max int) *idModel {
	return &idModel{max: max, set: map[chatKey]bool{}, fifo: map[int][]chatKey{}}
}

func (m *idModel) add(k chatKey) bool {
	if m.set[k] {
		return false
	}
	m.set[k] = true
	f := append(m.fifo[k.room], k)
	if len(f) > m.max {
		delete(m.set, f[0])
		f = f[1:]
	}
	m.fifo[k.room] = f
	return true
}

// checkIDs adds keys to a recentIDs and a model, and fails where they part.
func checkIDs(t *testing.T, max int, keys []chatKey) *recentIDs {
	t.Helper()
	s, m := newRecentIDs(max), newIDModel(max)
	for i, k := range keys {
		require.Equal(t, m.add(k), s.add(k), "add #%d %+v (max %d)", i, k, max)
		require.Equal(t, len(m.set), s.len())
	}
	// Everything the model remembers is found; anything else is new.
	for k := range m.set {
		assert.False(t, s.add(k), "%+v forgotten too early", k)
	}
	return s
}

func TestRecentIDsForgetOldestFirst(t *testing.T) {
	s := newRecentIDs(3)
	for _, id := range []int64{1, 2, 3} {
		require.True(t, s.add(chatKey{0, id}))
	}
	assert.False(t, s.add(chatKey{0, 2}), "a repeat")
	assert.True(t, s.add(chatKey{1, 2}), "the same id in another room is another message")
	assert.True(t, s.add(chatKey{0, 4}))
	// {0,1} was pushed out by {0,4}: it is new again (and out of order),
	// and pushes out {0,2}.
	assert.True(t, s.add(chatKey{0, 1}))
	assert.True(t, s.add(chatKey{0, 2}))
	assert.False(t, s.add(chatKey{0, 1}))
	assert.Equal(t, 4, s.len())
}

func TestRecentIDsMatchModel(t *testing.T) {
	rising := func(from, n int) (keys []chatKey) {
		for i := range n {
			// Rising in each room, as chat servers number messages, with
			// repeats (edits) of recent ones.
			keys = append(keys, chatKey{i % 2, int64(from + i/2)}, chatKey{0, int64(from + i/3)})
		}
		return keys
	}
	s := checkIDs(t, 4096, rising(1, 20_000))
	assert.Nil(t, s.rooms[0].table, "rising ids and repeats keep the sorted ring")
	// An edit of a message the ring has forgotten comes in out of order.
	keys := append(rising(1, 20_000), chatKey{0, 3})
	keys = append(keys, rising(20_000, 20_000)...)
	s = checkIDs(t, 4096, keys)
	assert.NotNil(t, s.rooms[0].table)
	assert.Nil(t, s.rooms[1].table, "each room on its own")
	checkIDs(t, 1, keys[:100])
}

// TestRecentIDsOneProbeRun: every id lands on one home slot (the worst a
// stranger who learnt the seed could do), and the set is still right,
// deletions included.
func TestRecentIDsOneProbeRun(t *testing.T) {
	s := newRecentIDs(40)
	s.add(chatKey{0, 1 << 40})
	s.add(chatKey{0, 1}) // out of order: the room has a table
	r := s.rooms[0]
	require.NotNil(t, r.table)
	m := newIDModel(40)
	m.add(chatKey{0, 1 << 40})
	m.add(chatKey{0, 1})
	var keys []chatKey
	for id := int64(2); len(keys) < 200; id++ {
		if r.home(id) == r.home(1) {
			keys = append(keys, chatKey{0, id})
		}
	}
	for i, k := range append(keys, keys...) {
		require.Equal(t, m.add(k), s.add(k), "add #%d", i)
	}
}

func FuzzRecentIDs(f *testing.F) {
	f.Add(uint8(3), []byte{1, 2, 3, 1, 4, 2, 5, 1})
	f.Add(uint8(1), []byte{7, 7, 8, 7})
	f.Add(uint8(16), []byte{0x81, 1, 0x81, 2, 3, 0x83, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 1})
	f.Fuzz(func(t *testing.T, max uint8, raw []byte) {
		keys := make([]chatKey, len(raw))
		for i, b := range raw {
			// Small ids, so that repeats and evictions are common; the top
			// bit picks the room.
			keys[i] = chatKey{int(b >> 7), int64(b&0x7f) + 1}
		}
		checkIDs(t, int(max%40)+1, keys)
	})
}
