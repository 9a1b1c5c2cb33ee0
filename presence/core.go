package presence

import (
	"fmt"
	"strconv"
	"time"
)

// Self describes the local node to its Core.
type Self struct {
	ID       string
	Inc      uint64
	Name     string
	Priority int
	Start    time.Time
	Version  string
	// Failback makes the active hand over to an alive member of higher
	// priority once that member has been alive for LeaseDuration + Grace.
	Failback bool
}

// Force is an operator's override of the node's role.
type Force string

const (
	// ForceAuto lets the election decide (the default).
	ForceAuto Force = "auto"
	// ForceStandby never claims; an active node steps down at once.
	ForceStandby Force = "standby"
	// ForceActive claims as soon as the rules allow, ahead of every other
	// standby, and asks the active to hand over to it. It never overrides
	// a lease: safety comes first.
	ForceActive Force = "active"
)

// EventKind says what changed.
type EventKind string

const (
	// EventRole: this node became active (Active) or lost the role.
	EventRole EventKind = "role"
	// EventMember: a member appeared or its role, term or status changed.
	EventMember EventKind = "member"
	// EventTerm: the term or its holder changed in this node's view.
	EventTerm EventKind = "term"
)

// Event is one change the Core reports.
type Event struct {
	Kind   EventKind
	Active bool
	Term   uint64
	Holder string
	// Reason says why this node's role changed (EventRole).
	Reason string
	Member Member
	// At is the local time of the input that caused the event.
	At time.Time
}

// superseded remembers this many replaced election states.
const supersededCap = 256

// ack is a hello read at a time.
type ack struct {
	Ack
	at time.Time
}

// hello is what a node knows of another node's latest hello: the number
// of election records read before it.
type hello struct {
	inc, nonce uint64
	elections  uint64
}

// Core is the election and membership state machine of one node: pure and
// deterministic, with no clock, goroutine or I/O of its own. Its inputs
// are the records read from the room in room order, the node's connection
// going up and down, the ticks of its clock and the operator's commands,
// each with the node's local time; its outputs are the records to post (to
// be posted in order, the time given being their send time) and events.
// The package doc states its rules and guarantees. A Core is not safe for
// concurrent use.
type Core struct {
	self  Self
	t     Timings
	force Force

	connected bool
	// synced: the node has read back the hello it posted after its latest
	// connection, so it has read the room without a gap since then.
	synced     bool
	nonce      uint64
	helloSent  time.Time
	helloRead  time.Time
	elections  uint64 // election records read
	helloCount uint64 // elections when the own hello was read back

	// known: st is this node's view of the election, agreed with every
	// other node that has read the same room since its own connection.
	known   bool
	st      Ref
	to      string    // handover target of a vacant st
	quiet   time.Time // when the latest election record of another node was read
	max     uint64    // the highest term seen
	held    uint64    // the highest term this node saw won or renewed
	fence   uint64    // the highest term another node knew when this one won a lower one
	old     map[Ref]struct{}
	olds    []Ref
	hello   map[string]hello
	acks    []ack  // hellos of other nodes read lately, for the active's records
	suspect bool   // active, reconnected, and no own renewal read since
	since   uint64 // the highest term in election records read since the latest connection

	active     bool
	doneSent   time.Time // send time of the latest own claim or renewal read back
	sent       map[uint64]time.Time
	lastRenew  time.Time
	nextSeq    uint64
	claiming   bool
	claimID    uint64               // numbers this node's claims (their Seq)
	claims     map[uint64]time.Time // send times of claims not yet decided
	claimSent  time.Time
	resignedAt time.Time
	lastBeat   time.Time
	lastAsk    time.Time
	notice     bool   // post a beat soon: this node knew a higher term than the one just won
	knewTerm   uint64 // that term

	members members
	events  []Event
	at      time.Time // the time of the input being handled
}

// NewCore returns the Core of a node that starts at now, disconnected.
func NewCore(self Self, t Timings, now time.Time) (*Core, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if self.ID == "" || len(self.ID) > maxNodeIDLen {
		return nil, ErrInvalidOption
	}
	c := &Core{self: self, t: t, force: ForceAuto, old: make(map[Ref]struct{}), hello: make(map[string]hello),
		sent: make(map[uint64]time.Time), claims: make(map[uint64]time.Time), members: make(members), quiet: now}
	return c, nil
}

// Active reports whether this node is the active instance now.
func (c *Core) Active() bool { return c.active }

// Term is the term this node holds while active, else the latest term it
// knows; zero before it knows any.
func (c *Core) Term() uint64 { return c.st.Term }

// Deadline is when this active steps down unless a renewal is read back
// first; zero when not active. A driver calls Tick then, not a tick later.
func (c *Core) Deadline() time.Time {
	if !c.active {
		return time.Time{}
	}
	return c.doneSent.Add(c.t.RenewDeadline)
}

// Ready reports whether this node is connected, has read the room without
// a gap since its hello, and knows the election's state: it would notice a
// lease running out and could claim.
func (c *Core) Ready() bool { return c.connected && c.synced && c.known }

// Holder is the node holding the current term in this node's view, empty
// when none is known or it resigned.
func (c *Core) Holder() string {
	if !c.known || c.st.Vacant {
		return ""
	}
	return c.st.Holder
}

// Members lists the members in preference order, this node included.
func (c *Core) Members() []Member { return c.members.sorted() }

// Events returns and forgets the events since the last call.
func (c *Core) Events() []Event {
	ev := c.events
	c.events = nil
	return ev
}

// Connect tells the Core that the node has (re)connected at now. What was
// posted while it was away may never be read, so it forgets the election
// state (unless it is active: its own state is authoritative to it until
// its deadline) and posts a hello to mark where it starts reading.
func (c *Core) Connect(now time.Time) []Record {
	c.at = now
	c.connected, c.synced = true, false
	// Hellos read before the gap may have been followed by election
	// records in it: they no longer prove a vacancy.
	clear(c.hello)
	if !c.active {
		c.known, c.since = false, 0
	}
	// An active keeps its view, but may have missed its own latest
	// renewal: until it reads one back, its view is good only while it
	// stays active.
	c.suspect = c.active
	c.nonce++
	c.helloSent, c.lastBeat = now, now
	rec := c.record(KindHello, now)
	rec.Nonce = c.nonce
	return []Record{rec}
}

// Disconnect tells the Core that the node's connection is down.
func (c *Core) Disconnect(time.Time) {
	c.connected, c.synced = false, false
}

// Force sets the operator's override.
func (c *Core) Force(now time.Time, f Force) []Record {
	c.at = now
	c.force = f
	if f == ForceStandby && c.active {
		c.stepDown("forced standby")
		c.resignedAt = now
		return []Record{c.resign(now, "")}
	}
	return c.Tick(now)
}

// StepDown gives the term up (no target): it stops acting at once and posts
// a resignation that lets the standbys claim without waiting for the lease.
func (c *Core) StepDown(now time.Time) ([]Record, error) { return c.Handover(now, "") }

// Handover stops acting at once and hands the term to the member to (any
// standby if empty): it may claim as soon as it reads the resignation; the
// others wait a full lease for it.
func (c *Core) Handover(now time.Time, to string) ([]Record, error) {
	c.at = now
	if !c.active {
		return nil, ErrNotActive
	}
	if to != "" {
		if m, ok := c.members[to]; !ok || !m.eligible() || to == c.self.ID {
			return nil, ErrUnknownMember
		}
	}
	c.stepDown("handover")
	c.resignedAt = now
	return []Record{c.resign(now, to)}, nil
}

// ReadPing records a SmokeDetector instance's ping, read at now.
func (c *Core) ReadPing(now time.Time, location string, sent time.Time) {
	c.at = now
	if location == "" || len(location) > maxNameLen {
		return
	}
	r := &Record{V: RecordVersion, Node: "smokedetector:" + location, Name: location, Role: RoleSmokeDetector,
		Every: ms(c.t.StandbyInterval), Start: sent.UnixMilli()}
	if m, changed := c.members.seen(now, r); changed {
		c.events = append(c.events, Event{Kind: EventMember, Member: *m})
	}
}

// Read takes one record read from the room at now, in room order.
func (c *Core) Read(now time.Time, r Record) ([]Record, error) {
	c.at = now
	if err := r.check(); err != nil {
		return nil, err
	}
	if m, changed := c.members.seen(now, &r); changed {
		c.events = append(c.events, Event{Kind: EventMember, Member: *m})
	}
	own := r.Node == c.self.ID && r.Inc == c.self.Inc
	var out []Record
	switch r.Kind {
	case KindHello:
		c.hello[r.Node] = hello{inc: r.Inc, nonce: r.Nonce, elections: c.elections}
		if !own {
			c.acks = append(c.acks, ack{Ack: Ack{Node: r.Node, Inc: r.Inc, Nonce: r.Nonce}, at: now})
			if len(c.acks) > maxAcks {
				c.acks = c.acks[1:]
			}
		}
		if own && r.Nonce == c.nonce && c.connected && !c.synced {
			c.synced, c.helloRead, c.helloCount = true, now, c.elections
			// What it learns from here on may be a late post (a renewal
			// of a holder long superseded): it waits a full lease, in
			// which a live active renews, before it claims on it.
			c.quiet = now
		}
	case KindAsk:
		if c.active && !own && r.To == c.self.ID {
			if recs, err := c.Handover(now, r.Node); err == nil {
				out = append(out, recs...)
			}
		}
	case KindClaim, KindRenew, KindResign:
		c.election(now, &r, own)
	}
	c.max = max(c.max, r.Term, r.Max)
	if c.active && !own && r.Fence >= c.st.Term {
		c.fence = max(c.fence, r.Fence)
	}
	return append(out, c.Tick(now)...), nil
}

// election applies one claim, renewal or resignation.
func (c *Core) election(now time.Time, r *Record, own bool) {
	before := c.elections
	c.elections++
	// Every election record that someone may act on restarts the
	// standbys' wait; late posts of superseded holders do not.
	if !own && c.live(r) {
		c.quiet = now
	}
	adopt := !c.known && r.Term >= c.since && c.acked(r)
	if !c.known {
		c.since = max(c.since, r.Term)
	}
	switch r.Kind {
	case KindClaim:
		c.claim(now, r, own, before)
	case KindRenew:
		c.renew(r, own, adopt)
	case KindResign:
		c.resigned(r, own, adopt)
	}
}

// acked reports whether r acknowledges this node's latest hello (or is
// this node's own: it trusts itself).
func (c *Core) acked(r *Record) bool {
	if r.Node == c.self.ID && r.Inc == c.self.Inc {
		return c.active
	}
	for _, a := range r.Acks {
		if a.Node == c.self.ID && a.Inc == c.self.Inc && a.Nonce == c.nonce {
			return true
		}
	}
	return false
}

// live reports whether r, from another node, may come from a node that
// acts, or will act, as the active: to a node that knows the state, a
// renewal or resignation of the current term (or a later one) and a claim
// that wins; to one that does not, any of them.
func (c *Core) live(r *Record) bool {
	if !c.known {
		return true
	}
	switch r.Kind {
	case KindRenew, KindResign:
		return r.Term >= c.st.Term && !(r.Term == c.st.Term && c.st.Vacant)
	}
	valid, _ := c.wins(r, c.elections-1)
	return valid
}

// wins reports whether claim r wins, read after before election records,
// and whether this node can tell (it cannot while it does not know the
// state, but for a vacancy claim whose sender's hello it read).
func (c *Core) wins(r *Record, before uint64) (valid, known bool) {
	if r.Ref == nil {
		h, ok := c.hello[r.Node]
		switch {
		case ok && h.inc == r.Inc && h.nonce == r.Nonce:
			return h.elections == before, true
		case !c.known:
			return false, false
		}
		// Known, without the sender's hello: this node read an election
		// record after that hello and before the claim (the one it learned
		// the state from), and so did the sender.
		return false, true
	}
	if !c.known {
		return false, false
	}
	return *r.Ref == c.st && r.Term > c.st.Term, true
}

// claim applies a claim: the first claim in room order that names the
// current state wins; a vacancy claim wins if no election record came
// between its sender's hello and it.
func (c *Core) claim(now time.Time, r *Record, own bool, before uint64) {
	valid, known := c.wins(r, before)
	if !known {
		return // cannot tell: wait for a renewal to learn the outcome
	}
	if !valid {
		if own {
			c.claiming = false
			delete(c.claims, r.Seq)
		}
		return
	}
	lower := r.Term <= c.held && r.Ref == nil && !own
	c.setState(Ref{Term: r.Term, Holder: r.Node, Inc: r.Inc}, "")
	if own {
		sent, ok := c.claims[r.Seq]
		clear(c.claims)
		if !ok || !now.Before(sent.Add(c.t.RenewDeadline)) {
			// Won too late to act on (or a claim this node no longer
			// tracks): the standbys' wait is already running out.
			c.claiming = false
			c.stepDown("claim read back past the deadline")
			return
		}
		if !c.active {
			c.active = true
			c.events = append(c.events, Event{Kind: EventRole, Active: true, Term: r.Term, Holder: c.self.ID, Reason: "claim won", At: c.at})
			c.lastRenew = sent
		}
		c.claiming, c.doneSent, c.nextSeq = false, sent, 1
		clear(c.sent)
		return
	}
	if c.active {
		c.stepDown("claimed by " + r.Node)
	}
	c.claiming = false
	if lower {
		// This node knew a term at least as high as the one just won:
		// say so, so that the winner claims past it.
		c.notice, c.knewTerm = true, c.held
	}
}

// renew applies a renewal.
func (c *Core) renew(r *Record, own, adopt bool) {
	ref := Ref{Term: r.Term, Holder: r.Node, Inc: r.Inc, Seq: r.Seq}
	switch {
	case !c.known && !adopt:
		// Possibly a late post: wait for one that acknowledges this
		// node's hello.
	case !c.known || r.Term > c.st.Term:
		if c.active && !own {
			c.stepDown("term " + itoa(r.Term) + " renewed by " + r.Node)
		}
		c.setState(ref, "")
	case r.Term < c.st.Term || c.st.Vacant:
		// A late post from an earlier holder: it has stepped down by now.
	case r.Node != c.st.Holder || r.Inc != c.st.Inc:
		if c.active {
			c.stepDown("term " + itoa(r.Term) + " renewed by " + r.Node)
		}
	case r.Seq > c.st.Seq:
		c.setState(ref, "")
		if own && c.active {
			c.suspect = false
			if s, ok := c.sent[r.Seq]; ok {
				c.doneSent = s
				for seq := range c.sent {
					if seq <= r.Seq {
						delete(c.sent, seq)
					}
				}
			}
		}
	}
}

// resigned applies a resignation.
func (c *Core) resigned(r *Record, own, adopt bool) {
	ref := Ref{Term: r.Term, Holder: r.Node, Inc: r.Inc, Seq: r.Seq, Vacant: true}
	switch {
	case !c.known && !adopt:
	case !c.known || r.Term > c.st.Term:
		if c.active && !own {
			c.stepDown("term " + itoa(r.Term) + " resigned by " + r.Node)
		}
		c.setState(ref, r.To)
	case r.Term == c.st.Term && r.Node == c.st.Holder && r.Inc == c.st.Inc && !c.st.Vacant:
		c.setState(ref, r.To)
	}
}

// setState moves to st, remembering the state it replaces.
func (c *Core) setState(st Ref, to string) {
	if c.known && c.st != st {
		c.old[c.st] = struct{}{}
		c.olds = append(c.olds, c.st)
		if len(c.olds) > supersededCap {
			delete(c.old, c.olds[0])
			c.olds = c.olds[1:]
		}
	}
	c.held = max(c.held, st.Term)
	changed := !c.known || st.Term != c.st.Term || st.Holder != c.st.Holder || st.Vacant != c.st.Vacant
	c.known, c.st, c.to = true, st, to
	if changed {
		c.events = append(c.events, Event{Kind: EventTerm, Term: st.Term, Holder: c.Holder()})
	}
}

// stepDown stops acting as the active.
func (c *Core) stepDown(reason string) {
	if !c.active {
		return
	}
	c.active, c.claiming = false, false
	if c.suspect {
		c.known, c.suspect, c.since = false, false, 0
	}
	clear(c.sent)
	c.events = append(c.events, Event{Kind: EventRole, Active: false, Term: c.st.Term, Holder: c.Holder(), Reason: reason, At: c.at})
}

// Tick lets the Core act on the time: the active steps down past its
// deadline or renews; a standby claims once the lease ran out; heartbeats
// go out; members' statuses age.
func (c *Core) Tick(now time.Time) []Record {
	c.at = now
	var out []Record
	if c.active && !now.Before(c.doneSent.Add(c.t.RenewDeadline)) {
		c.stepDown("renew deadline")
		c.quiet = now
	}
	if c.active && c.connected {
		out = append(out, c.activeTick(now)...)
	}
	if !c.active {
		if rec, ok := c.maybeClaim(now); ok {
			out = append(out, rec)
		}
	}
	if c.connected && !c.synced && !now.Before(c.helloSent.Add(c.t.LeaseDuration)) {
		// The hello was lost; say it again.
		out = append(out, c.Connect(now)...)
	}
	if c.connected && c.synced && !c.known && c.elections != c.helloCount &&
		!now.Before(c.helloRead.Add(c.t.LeaseDuration+c.t.Grace)) {
		// Election records came that this node could not judge, and no
		// renewal acknowledged its hello within a lease (the active's
		// renewal was lost, or there is no active): say hello again.
		out = append(out, c.Connect(now)...)
	}
	if c.connected && c.synced && !c.active && (c.notice || !now.Before(c.lastBeat.Add(c.t.StandbyInterval))) {
		c.notice = false
		c.lastBeat = now
		out = append(out, c.record(KindBeat, now))
	}
	for _, m := range c.members {
		if s := m.status(now); s != m.Status {
			m.Status = s
			c.events = append(c.events, Event{Kind: EventMember, Member: *m})
		}
	}
	return out
}

// activeTick is what a connected active does on a tick.
func (c *Core) activeTick(now time.Time) []Record {
	if c.fence >= c.st.Term && (!c.claiming || !now.Before(c.claimSent.Add(c.t.RenewInterval))) {
		// This term is lower than one another node knew: claim past it, as
		// the holder, so that the fencing token keeps increasing.
		st := c.st
		return []Record{c.claimRecord(now, c.fence+1, &st)}
	}
	if c.self.Failback {
		if to := c.failback(now); to != "" {
			recs, _ := c.Handover(now, to)
			return recs
		}
	}
	if now.Before(c.lastRenew.Add(c.t.RenewInterval)) {
		return nil
	}
	c.lastRenew = now
	c.sent[c.nextSeq] = now
	rec := c.record(KindRenew, now)
	rec.Seq, rec.Acks = c.nextSeq, c.recentAcks(now)
	c.nextSeq++
	return []Record{rec}
}

// maybeClaim returns a claim (or a request to hand over) when this standby
// may post one now.
func (c *Core) maybeClaim(now time.Time) (Record, bool) {
	if !c.connected || !c.synced || c.force == ForceStandby ||
		(c.claiming && now.Before(c.claimSent.Add(c.t.LeaseDuration+c.t.Grace))) {
		return Record{}, false
	}
	rank := c.members.rank(c.me(), c.st.Holder)
	if c.force == ForceActive {
		rank = 0
	}
	lease := c.t.LeaseDuration + c.t.Grace
	stagger := c.t.ClaimStagger * time.Duration(rank)
	from, wait := c.quiet, lease+stagger
	switch {
	case !c.known:
		if c.elections != c.helloCount || now.Before(c.helloRead.Add(wait)) {
			return Record{}, false
		}
		return c.claimRecord(now, c.max+1, nil), true
	case c.st.Vacant && c.st.Holder == c.self.ID && c.st.Inc == c.self.Inc:
		// This node resigned: it leaves the vacancy to the others for a
		// lease.
		if c.resignedAt.After(from) {
			from = c.resignedAt
		}
	case c.st.Vacant && (c.to == c.self.ID || c.force == ForceActive):
		wait = 0
	case c.st.Vacant && c.to == "":
		wait = stagger
	case c.st.Vacant:
		// The others give the named target a lease to claim.
	case c.force == ForceActive && c.st.Holder != c.self.ID && !now.Before(c.lastAsk.Add(lease)):
		c.lastAsk = now
		rec := c.record(KindAsk, now)
		rec.To = c.st.Holder
		return rec, true
	}
	if now.Before(from.Add(wait)) {
		return Record{}, false
	}
	st := c.st
	return c.claimRecord(now, max(c.st.Term, c.max)+1, &st), true
}

// claimRecord makes a claim for term replacing ref (a vacancy if nil).
func (c *Core) claimRecord(now time.Time, term uint64, ref *Ref) Record {
	rec := c.record(KindClaim, now)
	rec.Term, rec.Nonce = term, c.nonce
	if ref != nil {
		r := *ref
		rec.Ref = &r
	}
	c.claiming, c.claimSent = true, now
	c.claimID++
	rec.Seq = c.claimID
	c.claims[c.claimID] = now
	return rec
}

// resign makes a resignation of the current term.
func (c *Core) resign(now time.Time, to string) Record {
	rec := c.record(KindResign, now)
	rec.Seq, rec.To, rec.Acks = c.nextSeq, to, c.recentAcks(now)
	c.nextSeq++
	return rec
}

// recentAcks lists the hellos read within the last lease.
func (c *Core) recentAcks(now time.Time) []Ack {
	for len(c.acks) > 0 && now.Sub(c.acks[0].at) > c.t.LeaseDuration+c.t.Grace {
		c.acks = c.acks[1:]
	}
	if len(c.acks) == 0 {
		return nil
	}
	out := make([]Ack, len(c.acks))
	for i, a := range c.acks {
		out[i] = a.Ack
	}
	return out
}

// failback names the member to hand over to, if any.
func (c *Core) failback(now time.Time) string {
	me := c.me()
	for _, m := range c.members.sorted() {
		if m.ID != c.self.ID && m.Priority > me.Priority && m.Status == StatusAlive && m.Role == RoleStandby &&
			now.Sub(m.Start) >= c.t.LeaseDuration+c.t.Grace {
			return m.ID
		}
	}
	return ""
}

// me is this node as a member.
func (c *Core) me() *Member {
	return &Member{ID: c.self.ID, Priority: c.self.Priority, Role: c.role(), Status: StatusAlive}
}

func (c *Core) role() Role {
	switch {
	case c.active:
		return RoleActive
	case c.force == ForceStandby:
		return RoleObserver
	}
	return RoleStandby
}

// record makes a record of kind k from this node.
func (c *Core) record(k Kind, now time.Time) Record {
	every := c.t.StandbyInterval
	if c.active {
		every = c.t.RenewInterval
	}
	return Record{V: RecordVersion, Kind: k, Node: c.self.ID, Inc: c.self.Inc, Name: c.self.Name,
		Priority: c.self.Priority, Role: c.role(), Term: c.st.Term, Max: c.max, Fence: c.fenceFor(),
		Lease: ms(c.t.LeaseDuration), Every: ms(every), Start: c.self.Start.UnixMilli(), Version: c.self.Version}
}

// fenceFor is the Fence of this node's records: a term it knew that the
// current holder's term does not exceed.
func (c *Core) fenceFor() uint64 {
	if c.knewTerm >= c.st.Term && !c.st.Vacant && c.st.Holder != c.self.ID {
		return c.knewTerm
	}
	return 0
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

// String describes the Core's state, for logs and failing tests.
func (c *Core) String() string {
	return fmt.Sprintf("%s connected=%t synced=%t known=%t active=%t state=%+v max=%d elections=%d hello=%d nonce=%d",
		c.self.ID, c.connected, c.synced, c.known, c.active, c.st, c.max, c.elections, c.helloCount, c.nonce)
}
