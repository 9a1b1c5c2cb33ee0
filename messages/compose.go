package messages

import (
	"bytes"
	"fmt"
)

// EncodeTypes encodes p once, checked as EncodeFrame checks it, and returns
// each type's raw msgpack in wire order. A sender keeps payloads in this
// form so that it can merge several into one frame, and stamp the envelope,
// when it posts, without encoding the values again.
func EncodeTypes(p Payload) (types []RawType, err error) {
	err = encodeRaw(p, nil, nil, func(raw []byte) error {
		// A copy, which the types then point into: raw is a pooled buffer.
		f, err := splitPayload(bytes.Clone(raw), &Limits{})
		types = f.Types
		return err
	})
	return types, err
}

// ComposeFrame makes the frame text for types (from EncodeTypes, perhaps
// several payloads' worth whose types do not repeat), with env under
// EnvelopeKey when env is not nil.
func ComposeFrame(types []RawType, env *Envelope) (frame string, err error) {
	n := len(types)
	if env != nil {
		n++
	}
	s := getEncoder()
	defer putEncoder(s)
	if err := s.enc.EncodeMapLen(n); err != nil {
		return "", fmt.Errorf("messages: compose: %w", err)
	}
	for _, t := range types {
		if err := s.enc.EncodeString(t.Type); err != nil {
			return "", fmt.Errorf("messages: compose %q: %w", t.Type, err)
		}
		if err := s.enc.Encode(t.Data); err != nil {
			return "", fmt.Errorf("messages: compose %q: %w", t.Type, err)
		}
	}
	if env != nil {
		if err := s.enc.EncodeString(EnvelopeKey); err != nil {
			return "", fmt.Errorf("messages: compose envelope: %w", err)
		}
		if err := env.encode(s.enc); err != nil {
			return "", fmt.Errorf("messages: compose envelope: %w", err)
		}
	}
	return buildFrame(s.buf.Bytes()), nil
}

// ComposedLen is the length of ComposeFrame(types, env)'s text, computed
// without building it.
func ComposedLen(types []RawType, env *Envelope) int {
	n := len(types)
	raw := 0
	for _, t := range types {
		raw += strLen(len(t.Type)) + len(t.Data)
	}
	if env != nil {
		n++
		raw += strLen(len(EnvelopeKey)) + env.encodedLen()
	}
	return frameLen(mapHeaderLen(n) + raw)
}

// strLen is the size of a msgpack str of n bytes, header included.
func strLen(n int) int {
	switch {
	case n < 32:
		return 1 + n
	case n < 1<<8:
		return 2 + n
	case n < 1<<16:
		return 3 + n
	default:
		return 5 + n
	}
}

// arrayHeaderLen is the size of a msgpack array header for n elements, as
// a map's: msgpack sizes both alike.
func arrayHeaderLen(n int) int { return mapHeaderLen(n) }

func mapHeaderLen(n int) int {
	switch {
	case n < 16:
		return 1
	case n < 1<<16:
		return 3
	default:
		return 5
	}
}

// encodedLen is the size of env's msgpack encoding, as encode writes it,
// computed without encoding: ComposedLen runs once per payload considered
// for merging.
func (env *Envelope) encodedLen() int {
	// A fixarray header and the version are a byte each.
	n := 2 + strLen(len(env.Node)) + uintLen(env.Incarnation) + uintLen(env.Seq) + intLen(env.Time)
	if len(env.Sig) > 0 || len(env.Offsets) > 0 {
		n += binLen(len(env.Sig))
	}
	if len(env.Offsets) > 0 {
		n += arrayHeaderLen(len(env.Offsets))
		for _, o := range env.Offsets {
			n += uintLen(o)
		}
	}
	return n
}

// uintLen and intLen are the sizes of compact msgpack ints.
func uintLen(v uint64) int {
	switch {
	case v <= 127:
		return 1
	case v <= 0xff:
		return 2
	case v <= 0xffff:
		return 3
	case v <= 0xffffffff:
		return 5
	default:
		return 9
	}
}

func intLen(v int64) int {
	switch {
	case v >= 0:
		return uintLen(uint64(v))
	case v >= -32:
		return 1
	case v >= -1<<7:
		return 2
	case v >= -1<<15:
		return 3
	case v >= -1<<31:
		return 5
	default:
		return 9
	}
}

// binLen is the size of a msgpack bin of n bytes, header included.
func binLen(n int) int {
	switch {
	case n < 1<<8:
		return 2 + n
	case n < 1<<16:
		return 3 + n
	default:
		return 5 + n
	}
}
