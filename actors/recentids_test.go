package actors

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// idModel is what recentIDs must behave as: a map and a FIFO of the last
// max keys.
type idModel struct {
	max  int
	set  map[chatKey]bool
	fifo []chatKey
}

func (m *idModel) add(k chatKey) bool {
	if m.set[k] {
		return false
	}
	m.set[k] = true
	m.fifo = append(m.fifo, k)
	if len(m.fifo) > m.max {
		delete(m.set, m.fifo[0])
		m.fifo = m.fifo[1:]
	}
	return true
}

// checkIDs adds keys to a recentIDs and a model, and fails where they part.
func checkIDs(t *testing.T, max int, keys []chatKey) {
	t.Helper()
	s, m := newRecentIDs(max), &idModel{max: max, set: map[chatKey]bool{}}
	for i, k := range keys {
		require.Equal(t, m.add(k), s.add(k), "add #%d %+v (max %d)", i, k, max)
		require.Equal(t, len(m.fifo), s.len())
	}
	// Everything the model remembers is found; anything else is new.
	for _, k := range m.fifo {
		assert.False(t, s.add(k), "%+v forgotten too early", k)
	}
}

func TestRecentIDsForgetOldestFirst(t *testing.T) {
	s := newRecentIDs(3)
	for _, id := range []int64{1, 2, 3} {
		require.True(t, s.add(chatKey{0, id}))
	}
	assert.False(t, s.add(chatKey{0, 2}), "a repeat")
	assert.True(t, s.add(chatKey{1, 2}), "the same id in another room is another message")
	// {0,1} was pushed out by {1,2}: it is new again, and pushes out {0,2}.
	assert.True(t, s.add(chatKey{0, 1}))
	assert.True(t, s.add(chatKey{0, 2}))
	assert.Equal(t, 3, s.len())
}

func TestRecentIDsMatchModel(t *testing.T) {
	var keys []chatKey
	for i := range 20_000 {
		// Ids mostly rising, as chat servers give them, with repeats and
		// a second room; enough to grow the table to its largest and
		// wrap the ring several times.
		keys = append(keys, chatKey{i % 2, int64(i/2 + 1)}, chatKey{0, int64(i/3 + 1)})
	}
	checkIDs(t, 4096, keys)
	checkIDs(t, 1, keys[:100])
}

// TestRecentIDsOneProbeRun: every key lands on one home slot (the worst a
// stranger who learnt the seed could do), and the set is still right,
// deletions included.
func TestRecentIDsOneProbeRun(t *testing.T) {
	s := newRecentIDs(40)
	s.add(chatKey{0, 1})
	var keys []chatKey
	for id := int64(1); len(keys) < 200; id++ {
		if s.home(chatKey{0, id}) == s.home(chatKey{0, 1}) {
			keys = append(keys, chatKey{0, id})
		}
	}
	m := &idModel{max: 40, set: map[chatKey]bool{{0, 1}: true}, fifo: []chatKey{{0, 1}}}
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
