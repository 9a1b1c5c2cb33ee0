package messages

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"
	"unsafe"
)

// SignatureDomain starts the byte string that a frame's signature covers,
// so that a MAC made for anything else never passes as a frame's.
const SignatureDomain = "socketscience/2\x00"

// EncodeSignedFrame makes the frame text for p, like EncodeFrame, with env
// under EnvelopeKey and signed for posting in room: the copy of env that
// goes on the wire gets Sig, the HMAC-SHA256 under secret of the string
//
//	SignatureDomain + uvarint(len(room)) + room + uvarint(len(env.Node)) + env.Node
//	+ uvarint(env.Incarnation) + uvarint(env.Seq) + varint(env.Time)
//	+ for each type, in wire order:
//	    uvarint(len(type)) + type + uvarint(len(data)) + data
//	+ if env.Offsets is not empty: uvarint(len(offsets)) + uvarint(each offset)
//
// where data is the type's value as msgpack, exactly as on the wire, and
// the varints are encoding/binary's (varint zig-zags). room is the
// connection's chatgateway.Identity.Room: it is not on the wire, but a
// receiver verifies with its own, so a frame copied into another room does
// not verify there. The envelope itself, apart from those fields, is not
// covered. Receivers check it with Frame.Verify, on what Split returns,
// without re-encoding anything.
//
// env is required (ErrBadEnvelope if nil) and is not modified; its Sig is
// ignored. An empty secret is ErrEmptySecret. The envelope goes last on the
// wire, after the types it signs; SmokeDetector still decodes the frame and
// ignores the envelope, as it does an unsigned one.
func EncodeSignedFrame(p Payload, env *Envelope, room string, secret []byte) (string, error) {
	if len(secret) == 0 {
		return "", ErrEmptySecret
	}
	if env == nil {
		return "", fmt.Errorf("%w: a signed frame needs an envelope", ErrBadEnvelope)
	}
	return encodeFrame(p, env, &signer{room: room, secret: secret})
}

// signer is what a signed frame is signed with.
type signer struct {
	room   string
	secret []byte
}

// Sign returns the signature that a frame listing types, in this order,
// under env, posted in room, gets: what EncodeSignedFrame puts in the
// envelope's Sig. It is
// for senders that keep payloads as raw types and build frames from them:
// set env.Sig to it, and list the envelope after the types or anywhere
// else. env's own Sig is ignored. Errors: ErrEmptySecret, and
// ErrBadEnvelope for a nil env.
func Sign(types []RawType, env *Envelope, room string, secret []byte) ([]byte, error) {
	if len(secret) == 0 {
		return nil, ErrEmptySecret
	}
	if env == nil {
		return nil, fmt.Errorf("%w: a signed frame needs an envelope", ErrBadEnvelope)
	}
	m := newMAC(secret, room, env)
	defer m.free()
	for _, t := range types {
		m.add(t.Type, t.Data)
	}
	return bytes.Clone(m.finish(env.Offsets)), nil
}

// finish adds the offsets to what m has taken (absent, the bytes are as
// before offsets existed) and returns the signature in m's buffer, valid
// until m.free.
func (m *mac) finish(offsets []uint64) []byte {
	if len(offsets) > 0 {
		// Covered so that a copy with other offsets, taken for other
		// payloads, does not verify.
		m.h.Write(binary.AppendUvarint(m.scratch[:0], uint64(len(offsets))))
		for _, o := range offsets {
			m.h.Write(binary.AppendUvarint(m.scratch[:0], o))
		}
	}
	return m.h.Sum(m.out[:0])
}

// Verify checks the frame's signature, as made for room (the receiving
// connection's chatgateway.Identity.Room) under secret, in constant time.
// It returns nil if the signature is good; ErrUnsigned if the frame has no
// envelope or its envelope no Sig; ErrBadSignature if the signature does
// not match (a wrong secret, or anything covered changed on the way), or if
// the frame listed a type or the envelope twice, which a signer never does
// (Split keeps one of each, so the signature could not cover both);
// ErrEmptySecret if secret is empty.
//
// Verify proves who made the frame, not when: checking Envelope.Time
// against a window and Envelope.Seq against replays is the caller's job.
func (f Frame) Verify(room string, secret []byte) error {
	if len(secret) == 0 {
		return ErrEmptySecret
	}
	if f.Envelope == nil || len(f.Envelope.Sig) == 0 {
		return ErrUnsigned
	}
	if f.Envelope.repeated {
		return fmt.Errorf("%w: the frame lists a type twice", ErrBadSignature)
	}
	m := newMAC(secret, room, f.Envelope)
	defer m.free()
	for _, t := range f.Types {
		m.add(t.Type, t.Data)
	}
	if !hmac.Equal(m.finish(f.Envelope.Offsets), f.Envelope.Sig) {
		return ErrBadSignature
	}
	return nil
}

// mac builds a frame's signature. Macs are pooled, each with the HMAC of
// the secret it last used: a receiver verifies every frame under one
// secret, and making an HMAC is most of a small frame's verify.
type mac struct {
	h       hash.Hash
	key     []byte // h's secret
	scratch [2 * binary.MaxVarintLen64]byte
	out     [sha256.Size]byte
}

var macPool = sync.Pool{New: func() any { return new(mac) }}

// newMAC returns a mac from the pool, started on a frame's signed string;
// free returns it.
func newMAC(secret []byte, room string, env *Envelope) *mac {
	m := macPool.Get().(*mac)
	// The secret is the node's own, so comparing it in variable time tells
	// a peer nothing.
	if m.h != nil && bytes.Equal(m.key, secret) {
		m.h.Reset()
	} else {
		m.h = hmac.New(sha256.New, secret)
		m.key = append(m.key[:0], secret...)
	}
	m.writeString(SignatureDomain)
	m.writeLenString(room)
	m.writeLenString(env.Node)
	b := binary.AppendUvarint(m.scratch[:0], env.Incarnation)
	b = binary.AppendUvarint(b, env.Seq)
	b = binary.AppendVarint(b, env.Time)
	m.h.Write(b)
	return m
}

// writeLenString writes s after its length, so that no two (room, node)
// pairs make the same bytes.
func (m *mac) writeLenString(s string) {
	m.h.Write(binary.AppendUvarint(m.scratch[:0], uint64(len(s))))
	m.writeString(s)
}

// add covers one type and its data.
func (m *mac) add(typ string, data []byte) {
	m.writeLenString(typ)
	b := binary.AppendUvarint(m.scratch[:0], uint64(len(data)))
	m.h.Write(b)
	m.h.Write(data)
}

// writeString writes s without copying it: the hash only reads.
func (m *mac) writeString(s string) {
	if s != "" {
		m.h.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
	}
}

// free returns m to the pool; m's buffers must not be used after.
func (m *mac) free() {
	if len(m.key) > maxPooledKey {
		return // a huge secret is not worth keeping
	}
	macPool.Put(m)
}

// maxPooledKey is the longest secret that a pooled mac keeps.
const maxPooledKey = 1 << 10
