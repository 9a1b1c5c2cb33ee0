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

// Envelope is what a Go node adds to each frame it sends: who sent it, in
// what order, and, when nodes share a secret, a signature. On the wire it
// is a msgpack map with the short keys "g", "n", "s" and "t", to keep
// frames short; "g" is left out when there is no signature, so unsigned
// envelopes are as they were. Keys it does not know are ignored, so later
// versions may add fields.
type Envelope struct {
	// Node is the sending node's id.
	Node string
	// Seq is the sender's frame counter, for ordering and replay checks.
	Seq uint64
	// Time is when the frame was sent, in Unix milliseconds.
	Time int64
	// Sig is the frame's HMAC-SHA256 signature (see EncodeSignedFrame and
	// Frame.Verify), a msgpack bin under "g"; nil when the frame is not
	// signed. In a Frame from Split it views the frame's buffer: treat it
	// as read-only.
	Sig []byte

	// repeated is set by Split when the frame that carried the envelope
	// listed a type (or the envelope) twice, which no signer does: Split
	// keeps one value of each, so a signature could not cover them all, and
	// Verify rejects the frame. It lives here, not in Frame, because only a
	// frame with an envelope can be signed, and a bigger Frame makes Split
	// measurably slower.
	repeated bool
}

// encode writes env as a msgpack map. Keys go in sorted order, like every
// other map the codec writes.
func (env *Envelope) encode(enc *msgpack.Encoder) error {
	n := 3
	if len(env.Sig) > 0 {
		n++
	}
	if err := enc.EncodeMapLen(n); err != nil {
		return err
	}
	if len(env.Sig) > 0 {
		if err := enc.EncodeString("g"); err != nil {
			return err
		}
		if err := enc.EncodeBytes(env.Sig); err != nil {
			return err
		}
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
