package messages

import (
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5"
)

// EnvelopeKey is the reserved top-level key under which Go nodes carry an
// Envelope. SmokeDetector only calls callbacks for the keys it registered,
// so it ignores this one.
const EnvelopeKey = "_ss"

// EnvelopeVersion is the envelope this package writes. Version 1 (a map
// with the keys "g", "n", "s" and "t", no incarnation) is still read, from
// older Go nodes; see Envelope.
const EnvelopeVersion = 2

// Envelope is what a Go node adds to each frame it sends: who sent it (the
// node, and which run of it), in what order, when, and, when nodes share a
// secret, a signature.
//
// On the wire (version 2) it is a msgpack array, to keep frames short:
//
//	[2, node, incarnation, seq, time]        or, signed,
//	[2, node, incarnation, seq, time, sig]   or, carrying several payloads,
//	[2, node, incarnation, seq, time, sig, offsets]
//
// with sig a bin (empty when the frame is not signed but has offsets) and
// offsets an array of non-negative ints, one per type in wire order: that
// type's payload seq minus seq. Readers ignore elements after those they
// know, so a later version may append fields; a first element other than
// 2 is ErrBadEnvelope. A reader that predates offsets (they came after
// version 2's first release) ignores them and handles a merged frame
// once, as one payload numbered seq, which is what it did before: the
// frame body is unchanged, and SmokeDetector reads it as any other. An older node (which reads only version 1's map) drops a
// version 2 envelope as bad_envelope, counted and logged: it never takes
// a new frame for a replay. Version 1 envelopes, from older nodes, are read
// with Incarnation 0; their signatures do not cover a room, so a node that
// verifies signatures rejects them (ErrBadSignature).
type Envelope struct {
	// Node is the sending node's id.
	Node string
	// Incarnation is random for each start of the sending node, so that a
	// node restarted with the same id (and perhaps a clock now behind) is
	// not taken for its earlier run: receivers order and dedup frames by
	// (Node, Incarnation, Seq). Zero in version 1 envelopes.
	Incarnation uint64
	// Seq is the payload seq of the frame's first payload: the node
	// numbers the payloads it sends, from 1 in each incarnation, when Send
	// takes them, so that a payload posted to several rooms, merged with
	// different neighbours in each, has the same (Node, Incarnation, seq)
	// id everywhere. A post made again keeps its Seq, so receivers drop the
	// second copy.
	Seq uint64
	// Offsets is nil when every type in the frame belongs to payload Seq.
	// A frame merged from several payloads has one offset per type, in
	// wire order: the type's payload seq minus Seq. PayloadSeq reads it.
	Offsets []uint64
	// Time is when the frame was made, in Unix milliseconds.
	Time int64
	// Sig is the frame's HMAC-SHA256 signature (see EncodeSignedFrame and
	// Frame.Verify); nil when the frame is not signed. In a Frame from
	// Split it views the frame's buffer: treat it as read-only.
	Sig []byte

	// repeated is set by Split when the frame that carried the envelope
	// listed a type (or the envelope) twice, which no signer does: Split
	// keeps one value of each, so a signature could not cover them all, and
	// Verify rejects the frame. It lives here, not in Frame, because only a
	// frame with an envelope can be signed, and a bigger Frame makes Split
	// measurably slower.
	repeated bool
}

// envelopeFields is how many elements a version 2 envelope has before the
// optional signature, and offsetsField the index of the offsets.
const (
	envelopeFields = 5
	offsetsField   = 6
)

// PayloadSeq is the payload seq of the frame's type at index i (in
// Frame.Types): Seq plus its offset, if the frame has offsets.
func (env *Envelope) PayloadSeq(i int) uint64 {
	if i < len(env.Offsets) {
		return env.Seq + env.Offsets[i]
	}
	return env.Seq
}

// encode writes env as a version 2 envelope.
func (env *Envelope) encode(enc *msgpack.Encoder) error {
	n := envelopeFields
	if len(env.Sig) > 0 || len(env.Offsets) > 0 {
		n++
	}
	if len(env.Offsets) > 0 {
		n++
	}
	if err := enc.EncodeArrayLen(n); err != nil {
		return err
	}
	if err := enc.EncodeUint(EnvelopeVersion); err != nil {
		return err
	}
	if err := enc.EncodeString(env.Node); err != nil {
		return err
	}
	if err := enc.EncodeUint(env.Incarnation); err != nil {
		return err
	}
	if err := enc.EncodeUint(env.Seq); err != nil {
		return err
	}
	if err := enc.EncodeInt(env.Time); err != nil {
		return err
	}
	if n == envelopeFields {
		return nil
	}
	// An unsigned frame with offsets has an empty bin for its signature,
	// which every reader takes for none.
	sig := env.Sig
	if sig == nil {
		sig = []byte{} // nil would encode as msgpack nil
	}
	if err := enc.EncodeBytes(sig); err != nil {
		return err
	}
	if len(env.Offsets) == 0 {
		return nil
	}
	if err := enc.EncodeArrayLen(len(env.Offsets)); err != nil {
		return err
	}
	for _, o := range env.Offsets {
		if err := enc.EncodeUint(o); err != nil {
			return err
		}
	}
	return nil
}

// decodeEnvelope decodes the envelope in b, which skipValue has already
// checked as msgpack: a version 2 array or a version 1 map. Node is a copy,
// so that what a receiver remembers of a sender never pins its frame.
func decodeEnvelope(b []byte) (*Envelope, error) {
	h, off, err := readHead(b, 0)
	if err != nil {
		return nil, err
	}
	switch h.kind {
	case kArray:
		return decodeEnvelopeV2(b, h.n, off)
	case kMap:
		return decodeEnvelopeV1(b, h.n, off)
	}
	return nil, fmt.Errorf("%w: got %s, want array", ErrBadEnvelope, h.kind)
}

func decodeEnvelopeV2(b []byte, n, off int) (*Envelope, error) {
	if n < envelopeFields {
		return nil, fmt.Errorf("%w: %d fields, want at least %d", ErrBadEnvelope, n, envelopeFields)
	}
	env := new(Envelope)
	for i := range n {
		start := off
		v, next, err := readHead(b, off)
		if err != nil {
			return nil, err
		}
		off = next
		switch i {
		case 0:
			if !isUint(v) || v.u != EnvelopeVersion {
				return nil, fmt.Errorf("%w: version %d, this node reads 1 and %d", ErrBadEnvelope, int64(v.u), EnvelopeVersion)
			}
		case 1:
			if v.kind != kStr {
				return nil, fmt.Errorf("%w: node id is %s, want str", ErrBadEnvelope, v.kind)
			}
			env.Node = string(b[off : off+v.n])
			off += v.n
		case 2, 3:
			if !isUint(v) {
				return nil, fmt.Errorf("%w: field %d is %s, want non-negative int", ErrBadEnvelope, i, v.kind)
			}
			if i == 2 {
				env.Incarnation = v.u
			} else {
				env.Seq = v.u
			}
		case 4:
			if !isInt64(v) {
				return nil, fmt.Errorf("%w: time is %s, want int64", ErrBadEnvelope, v.kind)
			}
			env.Time = int64(v.u)
		case 5:
			if v.kind != kBin {
				return nil, fmt.Errorf("%w: signature is %s, want bin", ErrBadEnvelope, v.kind)
			}
			if v.n > 0 {
				env.Sig = b[off : off+v.n : off+v.n]
			}
			off += v.n
		case offsetsField:
			if v.kind != kArray {
				return nil, fmt.Errorf("%w: offsets are %s, want array", ErrBadEnvelope, v.kind)
			}
			if off, err = env.decodeOffsets(b, v.n, off); err != nil {
				return nil, err
			}
		default: // a later version's field
			if off, err = skipValue(b, start, 3); err != nil {
				return nil, err
			}
		}
	}
	return env, nil
}

// decodeOffsets reads n offsets from b at off. skipValue has checked them
// against the decode limits, so n is bounded by b's length.
func (env *Envelope) decodeOffsets(b []byte, n, off int) (int, error) {
	if n == 0 {
		return off, nil
	}
	env.Offsets = make([]uint64, n)
	for i := range n {
		v, next, err := readHead(b, off)
		if err != nil {
			return 0, err
		}
		if !isUint(v) || v.u > math.MaxUint64-env.Seq {
			return 0, fmt.Errorf("%w: offset %d is not a non-negative int that fits after seq %d", ErrBadEnvelope, i, env.Seq)
		}
		env.Offsets[i] = v.u
		off = next
	}
	return off, nil
}

// decodeEnvelopeV1 decodes an older node's envelope, a map.
func decodeEnvelopeV1(b []byte, n, off int) (*Envelope, error) {
	env := new(Envelope)
	var err error
	for range n {
		var k []byte
		if k, off, err = readKey(b, off); err != nil {
			return nil, err
		}
		var v head
		vstart := off
		if v, off, err = readHead(b, off); err != nil {
			return nil, err
		}
		switch string(k) { // no allocation: the compiler compares in place
		case "g":
			if v.kind != kBin {
				return nil, fmt.Errorf("%w: signature is %s, want bin", ErrBadEnvelope, v.kind)
			}
			env.Sig = nil
			if v.n > 0 {
				env.Sig = b[off : off+v.n : off+v.n]
			}
			off += v.n
		case "n":
			if v.kind != kStr {
				return nil, fmt.Errorf("%w: node id is %s, want str", ErrBadEnvelope, v.kind)
			}
			env.Node = string(b[off : off+v.n])
			off += v.n
		case "s":
			if !isUint(v) {
				return nil, fmt.Errorf("%w: seq is %s, want non-negative int", ErrBadEnvelope, v.kind)
			}
			env.Seq = v.u
		case "t":
			if !isInt64(v) {
				return nil, fmt.Errorf("%w: time is %s, want int64", ErrBadEnvelope, v.kind)
			}
			env.Time = int64(v.u)
		default: // a later version's field
			if off, err = skipValue(b, vstart, 3); err != nil {
				return nil, err
			}
		}
	}
	return env, nil
}

// isUint reports whether v is a non-negative integer.
func isUint(v head) bool {
	return v.kind == kUint || v.kind == kInt && int64(v.u) >= 0
}

// isInt64 reports whether v is an integer that fits an int64.
func isInt64(v head) bool {
	return v.kind == kInt || v.kind == kUint && v.u <= math.MaxInt64
}
