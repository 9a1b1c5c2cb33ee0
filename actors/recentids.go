package actors

import (
	"math/bits"
	"math/rand/v2"
)

// recentIDs is the set of the last n chat messages added, the oldest
// forgotten first: what the router checks every frame's chat message
// against. A Go map with a ring beside it spent a map insert and a map
// delete per frame; this is a linear-probing table sized for the ring, so
// an add is one probe sequence and the eviction a short backward shift.
// Both the table and the ring grow on use, so an idle node holds little.
// The hash is keyed by a random seed: ids a stranger can influence must
// not pile up on one probe run.
type recentIDs struct {
	max   int       // n: how many are remembered
	ring  []chatKey // in the order added; grows to max, then wraps
	next  int       // where the ring's next add goes, once full
	table []chatKey // open addressing; id 0 marks an empty slot
	mask  uint64
	seed  uint64
}

// minIDTable is the table's first size; it doubles as the ring fills.
const minIDTable = 64

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{max: max(n, 1), seed: rand.Uint64()}
}

// add records k and reports whether it is new, forgetting the oldest
// remembered when n are. k.id must not be 0.
func (s *recentIDs) add(k chatKey) bool {
	if s.table == nil {
		s.resize(minIDTable)
	}
	i := s.home(k)
	for ; s.table[i].id != 0; i = (i + 1) & s.mask {
		if s.table[i] == k {
			return false
		}
	}
	if len(s.ring) < s.max {
		s.ring = append(s.ring, k)
		if 2*len(s.ring) > len(s.table) {
			s.resize(2 * len(s.table))
			return true // k went in with the rest
		}
	} else {
		old := s.ring[s.next]
		s.ring[s.next] = k
		s.next = (s.next + 1) % s.max
		s.remove(old)
		// The shift may have moved entries into the probe run ahead of i;
		// k goes into the first empty slot from its home, as a lookup
		// expects.
		for i = s.home(k); s.table[i].id != 0; i = (i + 1) & s.mask {
		}
	}
	s.table[i] = k
	return true
}

// remove deletes k, which the table holds, shifting back the entries
// after it that a lookup would otherwise no longer reach.
func (s *recentIDs) remove(k chatKey) {
	i := s.home(k)
	for s.table[i] != k {
		i = (i + 1) & s.mask
	}
	for j := i; ; {
		j = (j + 1) & s.mask
		e := s.table[j]
		if e.id == 0 {
			break
		}
		// e can fill the hole at i unless its home lies after i, up to j.
		if (j-s.home(e))&s.mask >= (j-i)&s.mask {
			s.table[i] = e
			i = j
		}
	}
	s.table[i] = chatKey{}
}

// resize makes the table size slots (a power of two) and puts the ring's
// entries in it.
func (s *recentIDs) resize(size int) {
	s.table = make([]chatKey, size)
	s.mask = uint64(size - 1)
	for _, k := range s.ring {
		i := s.home(k)
		for s.table[i].id != 0 {
			i = (i + 1) & s.mask
		}
		s.table[i] = k
	}
}

// home is k's first slot: the seeded id and room, mixed (SplitMix64's
// finaliser), so that nearby ids spread over the table.
func (s *recentIDs) home(k chatKey) uint64 {
	x := uint64(k.id) ^ s.seed ^ bits.RotateLeft64(uint64(k.room), 32)
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return (x ^ x>>31) & s.mask
}

// len is how many are remembered.
func (s *recentIDs) len() int { return len(s.ring) }
