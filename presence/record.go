package presence

import (
	"fmt"
	"time"
)

// RecordType is the message type presence records travel under in the
// room. SmokeDetector ignores it: it calls callbacks only for types it
// registered.
const RecordType = "presence"

// RecordVersion is the version of the record format this package writes.
// Readers accept records of any version at least 1 and ignore fields they
// do not know.
const RecordVersion = 1

// Kind says what a record is for.
type Kind string

const (
	// KindHello is posted after every (re)connection: it announces the
	// member, and reading it back marks the point in room order from which
	// the node has read the room without a gap (see the package doc).
	KindHello Kind = "hello"
	// KindBeat is a standby's heartbeat.
	KindBeat Kind = "beat"
	// KindClaim asks for term Term, replacing the election state Ref (or,
	// with no Ref, a vacancy observed since the hello numbered Nonce).
	KindClaim Kind = "claim"
	// KindRenew is the active's heartbeat: its lease renewal number Seq
	// in term Term.
	KindRenew Kind = "renew"
	// KindResign gives the term up; To, if set, names the node it is
	// handed over to.
	KindResign Kind = "resign"
	// KindAsk asks the active (To) to hand over to the sender: an operator
	// forced the sender's role to active.
	KindAsk Kind = "ask"
)

// Ref names one election state: the record that set it.
type Ref struct {
	Term   uint64 `msgpack:"t"`
	Holder string `msgpack:"h"`
	Inc    uint64 `msgpack:"i"`
	Seq    uint64 `msgpack:"s"`
	// Vacant is true after the holder resigned (Seq is then the resign's).
	Vacant bool `msgpack:"v,omitempty"`
}

// Ack names one hello.
type Ack struct {
	Node  string `msgpack:"id"`
	Inc   uint64 `msgpack:"inc"`
	Nonce uint64 `msgpack:"n"`
}

// maxAcks bounds Acks.
const maxAcks = 32

// Record is one presence record as it travels in the room, encoded as
// msgpack under RecordType. Every record announces its sender as a member.
type Record struct {
	V    int    `msgpack:"v"`
	Kind Kind   `msgpack:"k"`
	Node string `msgpack:"id"`
	// Inc tells one run of a node from the next (a random number per start).
	Inc      uint64 `msgpack:"inc"`
	Name     string `msgpack:"name,omitempty"`
	Priority int    `msgpack:"prio"`
	Role     Role   `msgpack:"role"`
	// Term is the term claimed (claim), renewed (renew) or given up
	// (resign); in other records, the sender's current view.
	Term uint64 `msgpack:"term"`
	// Seq numbers the holder's renewals and resignation within a term
	// (from 1); in a claim, it numbers the sender's claims.
	Seq uint64 `msgpack:"seq,omitempty"`
	// Max is the highest term the sender has seen.
	Max uint64 `msgpack:"max"`
	Ref *Ref   `msgpack:"ref,omitempty"`
	// Fence is a term the sender knew before the current holder won a term
	// not above it (see the package doc); zero otherwise.
	Fence uint64 `msgpack:"fence,omitempty"`
	// Nonce numbers the sender's hellos; a vacancy claim names the hello
	// it was observed from.
	Nonce uint64 `msgpack:"n,omitempty"`
	// Acks, in the active's renewals and resignation, lists the hellos it
	// read within the last lease: a node that has just (re)connected trusts
	// only a renewal that acknowledges its own hello, so that a late post
	// from a holder long superseded cannot mislead it.
	Acks []Ack  `msgpack:"acks,omitempty"`
	To   string `msgpack:"to,omitempty"`
	// Lease is the sender's lease duration and Every its heartbeat interval
	// in its current role, in milliseconds.
	Lease int64 `msgpack:"lease"`
	Every int64 `msgpack:"every"`
	// Start is when the sender started, Unix milliseconds.
	Start   int64  `msgpack:"start"`
	Version string `msgpack:"ver,omitempty"`
}

// Limits on what a record may hold; records over them are dropped.
const (
	maxNodeIDLen  = 128
	maxNameLen    = 256
	maxVersionLen = 64
)

// check rejects records a correct sender never writes.
func (r *Record) check() error {
	switch {
	case r.V < 1:
		return fmt.Errorf("%w: version %d", ErrBadRecord, r.V)
	case r.Node == "" || len(r.Node) > maxNodeIDLen:
		return fmt.Errorf("%w: node id of %d bytes", ErrBadRecord, len(r.Node))
	case len(r.Name) > maxNameLen || len(r.Version) > maxVersionLen || len(r.To) > maxNodeIDLen:
		return fmt.Errorf("%w: field too long", ErrBadRecord)
	case r.Ref != nil && len(r.Ref.Holder) > maxNodeIDLen:
		return fmt.Errorf("%w: ref holder too long", ErrBadRecord)
	case len(r.Acks) > maxAcks:
		return fmt.Errorf("%w: %d acks", ErrBadRecord, len(r.Acks))
	case r.Lease < 0 || r.Every < 0:
		return fmt.Errorf("%w: negative duration", ErrBadRecord)
	}
	switch r.Kind {
	case KindHello, KindBeat, KindRenew, KindResign, KindAsk:
	case KindClaim:
		if r.Term == 0 {
			return fmt.Errorf("%w: claim for term 0", ErrBadRecord)
		}
	default:
		return fmt.Errorf("%w: kind %q", ErrBadRecord, r.Kind)
	}
	return nil
}

// ms converts a duration to whole milliseconds for a record.
func ms(d time.Duration) int64 { return d.Milliseconds() }
