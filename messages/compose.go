package messages

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// EncodeTypes encodes p once, checked as EncodeFrame checks it, and returns
// each type's raw msgpack in wire order. A sender keeps payloads in this
// form so that it can merge several into one frame, and stamp the envelope,
// when it posts, without encoding the values again.
func EncodeTypes(p Payload) ([]RawType, error) {
	frame, err := EncodeFrame(p, nil)
	if err != nil {
		return nil, err
	}
	f, err := Split(frame)
	if err != nil {
		return nil, fmt.Errorf("messages: encoded payload does not split: %w", err)
	}
	return f.Types, nil
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

// encodedLen is the size of env's msgpack encoding.
func (env *Envelope) encodedLen() int {
	b, err := msgpack.Marshal(envelopeSizer{env})
	if err != nil {
		return 0
	}
	return len(b)
}

type envelopeSizer struct{ env *Envelope }

func (s envelopeSizer) EncodeMsgpack(enc *msgpack.Encoder) error {
	enc.UseCompactInts(true)
	return s.env.encode(enc)
}
