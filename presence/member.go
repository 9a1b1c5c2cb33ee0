package presence

import (
	"cmp"
	"slices"
	"time"
)

// Role is a member's part in the election, as it last announced it.
type Role string

const (
	// RoleActive holds the current term.
	RoleActive Role = "active"
	// RoleStandby may claim when the active's lease runs out.
	RoleStandby Role = "standby"
	// RoleObserver never claims: an operator forced it to stand by
	// (ForceStandby).
	RoleObserver Role = "observer"
	// RoleSmokeDetector is a Python SmokeDetector instance, known from its
	// pings; it is shown, never elected.
	RoleSmokeDetector Role = "smokedetector"
)

// Status is how recently a member was heard from.
type Status string

const (
	// StatusAlive: heard within twice its heartbeat interval.
	StatusAlive Status = "alive"
	// StatusSuspected: silent for two heartbeat intervals or more.
	StatusSuspected Status = "suspected"
	// StatusGone: silent for four heartbeat intervals or more.
	StatusGone Status = "gone"
)

// Member is one instance in the room as this node sees it.
type Member struct {
	// ID is the node id (for a SmokeDetector instance, "smokedetector:"
	// and its location); Inc tells its runs apart.
	ID       string
	Inc      uint64
	Name     string
	Priority int
	Role     Role
	// Term is the term the member last announced (its own while active).
	Term    uint64
	Lease   time.Duration
	Every   time.Duration
	Start   time.Time
	Version string
	// LastSeen is when this node last read a record from the member, by
	// this node's clock.
	LastSeen time.Time
	Status   Status
}

// update reports whether a new status differs from the last.
func (m *Member) status(now time.Time) Status {
	silent := now.Sub(m.LastSeen)
	every := max(m.Every, time.Second)
	switch {
	case silent >= 4*every:
		return StatusGone
	case silent >= 2*every:
		return StatusSuspected
	}
	return StatusAlive
}

// eligible reports whether m may be elected.
func (m *Member) eligible() bool {
	return m.Status == StatusAlive && (m.Role == RoleStandby || m.Role == RoleActive)
}

// before orders members by preference: higher priority, then lower id.
func before(a, b *Member) int {
	if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// members is the membership view.
type members map[string]*Member

// seen records r from its sender, returning the member and whether what
// is shown of it changed.
func (ms members) seen(now time.Time, r *Record) (*Member, bool) {
	m, ok := ms[r.Node]
	if !ok {
		m = &Member{ID: r.Node}
		ms[r.Node] = m
	}
	old := *m
	m.Inc, m.Name, m.Priority, m.Role, m.Term = r.Inc, r.Name, r.Priority, r.Role, r.Term
	m.Lease, m.Every = time.Duration(r.Lease)*time.Millisecond, time.Duration(r.Every)*time.Millisecond
	m.Start, m.Version = time.UnixMilli(r.Start), r.Version
	m.LastSeen, m.Status = now, StatusAlive
	changed := !ok || old.Inc != m.Inc || old.Role != m.Role || old.Term != m.Term || old.Status != m.Status ||
		old.Priority != m.Priority || old.Name != m.Name
	return m, changed
}

// sorted lists copies of the members in preference order.
func (ms members) sorted() []Member {
	out := make([]*Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, m)
	}
	slices.SortFunc(out, before)
	list := make([]Member, len(out))
	for i, m := range out {
		list[i] = *m
	}
	return list
}

// rank is self's place among the eligible members other than skip (the
// holder whose lease is running out), in preference order.
func (ms members) rank(self *Member, skip string) int {
	r := 0
	for _, m := range ms {
		if m.ID != self.ID && m.ID != skip && m.eligible() && before(m, self) < 0 {
			r++
		}
	}
	return r
}
