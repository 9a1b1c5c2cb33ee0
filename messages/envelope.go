package messages

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// EnvelopeKey is the reserved top-level key under which Go nodes carry an
// Envelope. SmokeDetector only calls callbacks for the keys it registered,
// so it ignores this one.
const EnvelopeKey = "_ss"

// Envelope is what a Go node adds to each frame it sends: who sent it and
// in what order. On the wire it is a msgpack map with the short keys "n",
// "s" and "t", to keep frames short; keys it does not know are ignored, so
// later versions may add fields.
type Envelope struct {
	// Node is the sending node's id.
	Node string
	// Seq is the sender's frame counter, for ordering and replay checks.
	Seq uint64
	// Time is when the frame was sent, in Unix milliseconds.
	Time int64
}

// encode writes env as a msgpack map. Keys go in sorted order, like every
// other map the codec writes.
func (env *Envelope) encode(enc *msgpack.Encoder) error {
	if err := enc.EncodeMapLen(3); err != nil {
		return err
	}
	if err := enc.EncodeString("n"); err != nil {
		return err
	}
	if err := enc.EncodeString(env.Node); err != nil {
		return err
	}
	if err := enc.EncodeString("s"); err != nil {
		return err
	}
	if err := enc.EncodeUint(env.Seq); err != nil {
		return err
	}
	if err := enc.EncodeString("t"); err != nil {
		return err
	}
	return enc.EncodeInt(env.Time)
}

// decodeEnvelope decodes the envelope map in b, which skipValue has already
// checked as msgpack. Node is a view into b, which the caller must never
// modify (Split's buffer is never written after decoding).
func decodeEnvelope(b []byte) (*Envelope, error) {
	h, off, err := readHead(b, 0)
	if err != nil {
		return nil, err
	}
	if h.kind != kMap {
		return nil, fmt.Errorf("%w: got %s, want map", ErrBadEnvelope, h.kind)
	}
	env := new(Envelope)
	for range h.n {
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
		case "n":
			if v.kind != kStr {
				return nil, fmt.Errorf("%w: node id is %s, want str", ErrBadEnvelope, v.kind)
			}
			if v.n > 0 {
				env.Node = unsafe.String(&b[off], v.n)
			} else {
				env.Node = ""
			}
			off += v.n
		case "s":
			switch {
			case v.kind == kUint, v.kind == kInt && int64(v.u) >= 0:
				env.Seq = v.u
			default:
				return nil, fmt.Errorf("%w: seq is %s, want non-negative int", ErrBadEnvelope, v.kind)
			}
		case "t":
			switch {
			case v.kind == kInt, v.kind == kUint && v.u <= math.MaxInt64:
				env.Time = int64(v.u)
			default:
				return nil, fmt.Errorf("%w: time is %s, want int64", ErrBadEnvelope, v.kind)
			}
		default: // a later version's field
			if off, err = skipValue(b, vstart, 3); err != nil {
				return nil, err
			}
		}
	}
	return env, nil
}
