package actors

import (
	"math/rand/v2"
	"slices"
)

// recentIDs is the set of the last n chat message ids of each room, the
// oldest forgotten first: what the router checks every frame's chat message
// against. Chat servers number a room's messages in order, so while a
// room's ids come in rising, its ids are a sorted ring: a new id is one
// compare and one store, a repeat a binary search. The first id out of
// order (an edit of a message older than the ring, an adapter whose ids
// are not ordered) moves the room to a hash table beside the ring, for
// good. A Go map with a ring beside it cost a map insert and a map delete
// per frame, which the profile showed. Rings and tables grow on use, so an
// idle node holds little.
type recentIDs struct {
	max   int
	rooms []*roomIDs
}

// roomIDs is one room's ids.
type roomIDs struct {
	ring []int64 // in the order added; grows to max, then wraps at next
	next int
	high int64 // the greatest id added, while there is no table
	// table, once set, holds what ring holds, by linear probing; 0 marks
	// an empty slot (0 is never added). Until then ring is sorted, read
	// from next (the oldest) round to next-1.
	table []int64
	mask  uint64
	seed  uint64 // of the hash: ids a stranger can influence must not pile up on one probe run
}

// minIDTable is a room's first table size; it doubles as the ring fills.
const minIDTable = 64

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{max: max(n, 1)}
}

// add records k and reports whether it is new, forgetting the oldest of
// its room's when n are remembered. k.id must not be 0.
func (s *recentIDs) add(k chatKey) bool {
	for k.room >= len(s.rooms) {
		s.rooms = append(s.rooms, nil)
	}
	r := s.rooms[k.room]
	if r == nil {
		r = &roomIDs{seed: rand.Uint64()}
		s.rooms[k.room] = r
	}
	return r.add(k.id, s.max)
}

// len is how many are remembered.
func (s *recentIDs) len() int {
	n := 0
	for _, r := range s.rooms {
		if r != nil {
			n += len(r.ring)
		}
	}
	return n
}

// add is recentIDs.add for the room, which remembers n ids.
func (r *roomIDs) add(id int64, n int) bool {
	if r.table == nil {
		if len(r.ring) == 0 || id > r.high {
			r.high = id
			r.push(id, n)
			return true
		}
		if r.sortedHas(id) {
			return false
		}
		r.resize(minIDTable)
	}
	i := r.home(id)
	for ; r.table[i] != 0; i = (i + 1) & r.mask {
		if r.table[i] == id {
			return false
		}
	}
	if old, evicted := r.push(id, n); evicted {
		r.remove(old)
		// The shift may have moved entries into the probe run ahead of
		// i; id goes into the first empty slot from its home, as a
		// lookup expects.
		for i = r.home(id); r.table[i] != 0; i = (i + 1) & r.mask {
		}
	} else if 2*len(r.ring) > len(r.table) {
		r.resize(2 * len(r.table))
		return true // id went in with the rest
	}
	r.table[i] = id
	return true
}

// push adds id to the ring of n, returning the id it pushed out, if any.
func (r *roomIDs) push(id int64, n int) (old int64, evicted bool) {
	if len(r.ring) < n {
		r.ring = append(r.ring, id)
		return 0, false
	}
	old = r.ring[r.next]
	r.ring[r.next] = id
	r.next = (r.next + 1) % n
	return old, true
}

// sortedHas reports whether the sorted ring holds id.
func (r *roomIDs) sortedHas(id int64) bool {
	_, newer := slices.BinarySearch(r.ring[:r.next], id)
	_, older := slices.BinarySearch(r.ring[r.next:], id)
	return newer || older
}

// remove deletes id, which the table holds, shifting back the entries
// after it that a lookup would otherwise no longer reach.
func (r *roomIDs) remove(id int64) {
	i := r.home(id)
	for r.table[i] != id {
		i = (i + 1) & r.mask
	}
	for j := i; ; {
		j = (j + 1) & r.mask
		e := r.table[j]
		if e == 0 {
			break
		}
		// e can fill the hole at i unless its home lies after i, up to j.
		if (j-r.home(e))&r.mask >= (j-i)&r.mask {
			r.table[i] = e
			i = j
		}
	}
	r.table[i] = 0
}

// resize makes the table size slots (a power of two, more than twice the
// ring's length) and puts the ring's ids in it.
func (r *roomIDs) resize(size int) {
	for size < 2*len(r.ring)+1 {
		size *= 2
	}
	r.table = make([]int64, size)
	r.mask = uint64(size - 1)
	for _, id := range r.ring {
		i := r.home(id)
		for r.table[i] != 0 {
			i = (i + 1) & r.mask
		}
		r.table[i] = id
	}
}

// home is id's first slot: the seeded id, mixed (SplitMix64's finaliser),
// so that nearby ids spread over the table.
func (r *roomIDs) home(id int64) uint64 {
	x := uint64(id) ^ r.seed
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return (x ^ x>>31) & r.mask
}
