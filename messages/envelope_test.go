package messages

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// A frame merged from several payloads: offsets on the wire after an empty
// signature, read back per type, and the same frame still read as one
// payload by a reader that knows nothing of offsets.
func TestEnvelopeOffsets(t *testing.T) {
	env := &Envelope{Node: "n", Incarnation: 1, Seq: 5, Time: 2, Offsets: []uint64{0, 2}}
	types := []RawType{{Type: "a", Data: []byte{1}}, {Type: "b", Data: []byte{2}}}
	content, err := ComposeFrame(types, env)
	require.NoError(t, err)
	raw, _ := frameBytes(t, content)
	assert.Equal(t, mp(0x83, "a", 1, "b", 2, EnvelopeKey, 0x97, 2, "n", 1, 5, 2, 0xc4, 0, 0x92, 0, 2), raw)

	f, err := Split(content)
	require.NoError(t, err)
	assert.Equal(t, uint64(5), f.Envelope.PayloadSeq(0))
	assert.Equal(t, uint64(7), f.Envelope.PayloadSeq(1))
	assert.Nil(t, f.Envelope.Sig, "an empty bin is no signature")

	// A reader of version 2 before offsets: its decoder ignored the
	// elements after the signature, so the first six are all it sees.
	var old []any
	require.NoError(t, msgpack.Unmarshal(raw[len(mp(0x83, "a", 1, "b", 2, EnvelopeKey)):], &old))
	require.Len(t, old, 7)
	assert.Equal(t, []byte{}, old[5])

	// SmokeDetector reads the body as any other frame.
	p, err := DecodeFrame(content)
	require.NoError(t, err)
	assert.EqualValues(t, 1, p["a"])
	assert.EqualValues(t, 2, p["b"])

	// A frame without offsets is as before: every type is payload Seq.
	single := &Envelope{Node: "n", Seq: 9}
	assert.Equal(t, uint64(9), single.PayloadSeq(1))
}

// The signature covers offsets: a copy whose offsets were changed (to pass
// a payload off as another, unseen one) does not verify; a frame with no
// offsets signs as before.
func TestSignatureCoversOffsets(t *testing.T) {
	types := []RawType{{Type: "a", Data: []byte{1}}, {Type: "b", Data: []byte{2}}}
	env := &Envelope{Node: "n", Incarnation: 1, Seq: 5, Time: 2, Offsets: []uint64{0, 1}}
	sig, err := Sign(types, env, testRoom, testSecret)
	require.NoError(t, err)
	env.Sig = sig
	content, err := ComposeFrame(types, env)
	require.NoError(t, err)
	f, err := Split(content)
	require.NoError(t, err)
	require.NoError(t, f.Verify(testRoom, testSecret))

	f.Envelope.Offsets = []uint64{0, 2}
	assert.ErrorIs(t, f.Verify(testRoom, testSecret), ErrBadSignature)

	plain := &Envelope{Node: "n", Incarnation: 1, Seq: 5, Time: 2}
	withNone, err := Sign(types, plain, testRoom, testSecret)
	require.NoError(t, err)
	assert.NotEqual(t, sig, withNone)
	content, err = EncodeSignedFrame(Payload{"a": 1, "b": 2}, plain, testRoom, testSecret)
	require.NoError(t, err)
	g, err := Split(content)
	require.NoError(t, err)
	assert.Equal(t, withNone, g.Envelope.Sig, "no offsets: the signature of before")
}
