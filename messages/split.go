package messages

import (
	"encoding/base64"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// RawType is one message type out of a frame, its data still msgpack.
type RawType struct {
	// Type is the payload's top-level key, such as "beverage".
	Type string
	// Data is the type's value, one complete msgpack value.
	Data msgpack.RawMessage
}

// Frame is a frame split into its message types.
//
// The Types and Data of one Frame share one buffer, to save allocations, so
// keeping any of them keeps the whole decoded frame in memory. Treat Data
// as read-only, as every handler of a type is given the same bytes. (Even
// so, writing into a Data cannot change a Type, and appending to a Data
// copies it, since its capacity ends where it does.)
type Frame struct {
	// Types are the payload's types in the order the frame lists them,
	// EnvelopeKey excluded. A type listed twice appears once, at its first
	// place, with its last value, as a Python dict would hold it.
	Types []RawType
	// Envelope is the sending Go node's envelope; nil if the frame has none,
	// as SmokeDetector's frames do not.
	Envelope *Envelope
}

// Split splits a frame with the default limits: Limits{}.Split.
func Split(content string) (Frame, error) {
	return Limits{}.Split(content)
}

// Split splits a frame into its top-level types without decoding their
// values: each RawType.Data is the raw msgpack of one value, to be decoded
// by the handler that wants it (Message.Decode). It still checks the whole
// frame, with the same rules and limits as DecodeFrame, so a frame that
// Split accepts DecodeFrame accepts too; and it decodes the envelope, if
// there is one. It does not check a signature: see Frame.Verify.
func (l Limits) Split(content string) (Frame, error) {
	body, err := frameBody(content, &l)
	if err != nil {
		return Frame{}, err
	}
	// The one buffer of the call: Types and Data point into it. A small
	// frame's one type is kept in the same allocation.
	dst, types := frameBuffer(base64.StdEncoding.DecodedLen(len(body)))
	b, err := decodeBase64(dst, body)
	if err != nil {
		return Frame{}, err
	}
	return splitPayloadInto(b, &l, types)
}

// frameBuffer returns room for n decoded bytes and, for a small frame, for
// its one type, in one allocation of the allocator's 64, 96 or 160-byte
// size class (a RawType is 40 bytes); most frames, SmokeDetector's
// among them, are that small. types is nil for a bigger frame.
func frameBuffer(n int) (dst []byte, types []RawType) {
	switch {
	case n <= 24:
		return smallFrame[[24]byte](n)
	case n <= 56:
		return smallFrame[[56]byte](n)
	case n <= 120:
		return smallFrame[[120]byte](n)
	}
	return make([]byte, n), nil
}

// smallFrame allocates a frameWith[B]: B is a byte array, n at most its
// length.
func smallFrame[B any](n int) ([]byte, []RawType) {
	s := new(frameWith[B])
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&s.buf)), unsafe.Sizeof(s.buf))
	return buf[:n:n], s.types[:0:1]
}

// frameWith is a small frame's decoded bytes and room for its one type.
type frameWith[B any] struct {
	types [1]RawType
	buf   B
}

// splitPayload splits msgpack bytes into types, checking them with l. b
// must not be modified afterwards: the type names are views into it.
func splitPayload(b []byte, l *Limits) (Frame, error) { return splitPayloadInto(b, l, nil) }

// splitPayloadInto is splitPayload that puts the types in types if they fit
// its capacity.
func splitPayloadInto(b []byte, l *Limits, types []RawType) (Frame, error) {
	var w walker
	w.init(b, l)
	n, off, err := w.topMap()
	if err != nil {
		return Frame{}, err
	}
	var f Frame
	switch {
	case n > 0 && n <= cap(types):
		f.Types = types
	case n > 0:
		f.Types = make([]RawType, 0, min(n, maxPrealloc))
	}
	var seen map[string]int // built only for frames with many types
	repeated := false       // a type, or the envelope, listed twice
	for range n {
		ks, ke, err := w.topKey(off)
		if err != nil {
			return Frame{}, err
		}
		end, err := w.skip(ke, 2)
		if err != nil {
			return Frame{}, err
		}
		off = end
		// The full slice expression caps Data, so an append to it cannot
		// overwrite the next key, which a Type string views.
		data := b[ke:end:end]
		// No copy: b is never written again, so the key bytes are as
		// immutable as a string's must be.
		typ := unsafe.String(&b[ks], ke-ks)
		if typ == EnvelopeKey {
			repeated = repeated || f.Envelope != nil
			if f.Envelope, err = decodeEnvelope(data); err != nil {
				return Frame{}, err
			}
			continue
		}
		if i, dup := findType(f.Types, seen, typ); dup {
			f.Types[i].Data = data
			repeated = true
			continue
		}
		f.Types = append(f.Types, RawType{Type: typ, Data: data})
		if seen != nil || len(f.Types) > linearTypes {
			if seen == nil {
				seen = make(map[string]int, len(f.Types))
				for i, t := range f.Types {
					seen[t.Type] = i
				}
			}
			seen[typ] = len(f.Types) - 1
		}
	}
	if err := checkEnd(b, off); err != nil {
		return Frame{}, err
	}
	if len(f.Types) == 0 {
		f.Types = nil
	}
	if f.Envelope != nil {
		f.Envelope.repeated = repeated
	}
	return f, nil
}

// linearTypes is how many types a frame may hold before duplicates are
// found with a map instead of a scan; a hostile frame can hold hundreds of
// thousands.
const linearTypes = 16

func findType(types []RawType, seen map[string]int, typ string) (int, bool) {
	if seen != nil {
		i, ok := seen[typ]
		return i, ok
	}
	for i := range types {
		if types[i].Type == typ {
			return i, true
		}
	}
	return 0, false
}
