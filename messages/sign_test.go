package messages

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

var testSecret = []byte("correct horse battery staple")

// wireFrame builds a frame listing types in the order given, then the
// envelope (if any), without sorting or checking anything.
func wireFrame(tb testing.TB, types []RawType, env *Envelope) string {
	tb.Helper()
	s := getEncoder()
	defer putEncoder(s)
	n := len(types)
	if env != nil {
		n++
	}
	require.NoError(tb, s.enc.EncodeMapLen(n))
	for _, t := range types {
		require.NoError(tb, s.enc.EncodeString(t.Type))
		s.buf.Write(t.Data)
	}
	if env != nil {
		require.NoError(tb, s.enc.EncodeString(EnvelopeKey))
		require.NoError(tb, env.encode(s.enc))
	}
	return frameOf(bytes.Clone(s.buf.Bytes()))
}

func signedTestFrame(tb testing.TB) (string, Frame) {
	tb.Helper()
	env := &Envelope{Node: "ny-1", Incarnation: 99, Seq: 1234, Time: 1700000000123}
	content, err := EncodeSignedFrame(Payload{
		"beverage": map[string]any{"message_id": 44402065, "beverage_type": "coffee"},
		"ping":     1,
	}, env, testRoom, testSecret)
	require.NoError(tb, err)
	assert.Nil(tb, env.Sig, "the caller's envelope was modified")
	f, err := Split(content)
	require.NoError(tb, err)
	return content, f
}

func TestSignRoundTrip(t *testing.T) {
	content, f := signedTestFrame(t)
	require.NotNil(t, f.Envelope)
	assert.Equal(t, "ny-1", f.Envelope.Node)
	assert.Equal(t, uint64(1234), f.Envelope.Seq)
	assert.Equal(t, int64(1700000000123), f.Envelope.Time)
	assert.Len(t, f.Envelope.Sig, sha256.Size)
	require.Len(t, f.Types, 2)
	assert.Equal(t, "beverage", f.Types[0].Type)
	assert.Equal(t, "ping", f.Types[1].Type)
	assert.NoError(t, f.Verify(testRoom, testSecret))

	// The envelope goes last on the wire.
	raw, _ := frameBytes(t, content)
	var last string
	var w walker
	w.initCeiling(raw)
	n, off, err := w.topMap()
	require.NoError(t, err)
	for range n {
		ks, ke, err := w.topKey(off)
		require.NoError(t, err)
		last = string(raw[ks:ke])
		off, err = w.skip(ke, 2)
		require.NoError(t, err)
	}
	assert.Equal(t, EnvelopeKey, last)

	// SmokeDetector compatibility: plain DecodeFrame sees one extra key, a map.
	p, err := DecodeFrame(content)
	require.NoError(t, err)
	assert.Len(t, p, 3)
	envArray, ok := p[EnvelopeKey].([]any)
	require.True(t, ok)
	require.Len(t, envArray, 6)
	assert.Equal(t, []byte(f.Envelope.Sig), envArray[5])
	assert.Equal(t, "ny-1", envArray[1])
	assert.Equal(t, "coffee", p["beverage"].(map[string]any)["beverage_type"])

	// A signed frame Fragments, reassembles and verifies.
	pieces, err := Fragment(content, 60, NewFragmentID(7))
	require.NoError(t, err)
	r := NewReassembler(ReassemblyLimits{})
	var frame string
	for i := len(pieces) - 1; i >= 0; i-- {
		var done bool
		frame, done, err = r.Add("7", pieces[i], testNow)
		require.NoError(t, err)
		assert.Equal(t, i == 0, done)
	}
	g, err := Split(frame)
	require.NoError(t, err)
	assert.NoError(t, g.Verify(testRoom, testSecret))
}

// TestSignCanonical computes the signature from the specification, byte
// by byte, as another implementation would.
func TestSignCanonical(t *testing.T) {
	content, f := signedTestFrame(t)
	raw, _ := frameBytes(t, content)
	var spec []byte
	spec = append(spec, "socketscience/2\x00"...)
	spec = binary.AppendUvarint(spec, uint64(len(testRoom)))
	spec = append(spec, testRoom...)
	spec = append(spec, 4)
	spec = append(spec, "ny-1"...)
	spec = binary.AppendUvarint(spec, f.Envelope.Incarnation)
	spec = binary.AppendUvarint(spec, 1234)
	spec = binary.AppendVarint(spec, 1700000000123)
	for _, typ := range []string{"beverage", "ping"} {
		// Each type's data, found in the raw msgpack by hand.
		i := bytes.Index(raw, append([]byte{0xa0 | byte(len(typ))}, typ...)) + 1 + len(typ)
		end, err := skipValue(raw, i, 2)
		require.NoError(t, err)
		spec = binary.AppendUvarint(spec, uint64(len(typ)))
		spec = append(spec, typ...)
		spec = binary.AppendUvarint(spec, uint64(end-i))
		spec = append(spec, raw[i:end]...)
	}
	m := hmac.New(sha256.New, testSecret)
	m.Write(spec)
	assert.Equal(t, m.Sum(nil), []byte(f.Envelope.Sig))

	// Negative times and long nodes use the varints too.
	env := &Envelope{Node: string(bytes.Repeat([]byte("n"), 300)), Incarnation: 1 << 62, Seq: 1 << 63, Time: -5}
	content, err := EncodeSignedFrame(Payload{}, env, "", testSecret)
	require.NoError(t, err)
	g, err := Split(content)
	require.NoError(t, err)
	spec = append([]byte("socketscience/2\x00"), 0)
	spec = binary.AppendUvarint(spec, 300)
	spec = append(spec, env.Node...)
	spec = binary.AppendUvarint(spec, 1<<62)
	spec = binary.AppendUvarint(spec, 1<<63)
	spec = binary.AppendVarint(spec, -5)
	m = hmac.New(sha256.New, testSecret)
	m.Write(spec)
	assert.Equal(t, m.Sum(nil), []byte(g.Envelope.Sig))
	assert.NoError(t, g.Verify("", testSecret))

	// The room is covered: a frame copied into another room fails there.
	assert.ErrorIs(t, g.Verify(testRoom, testSecret), ErrBadSignature)
}

func TestVerifyTampered(t *testing.T) {
	_, f := signedTestFrame(t)
	good := *f.Envelope
	types := f.Types
	env := func(mod func(*Envelope)) *Envelope {
		e := good
		e.Sig = bytes.Clone(good.Sig)
		mod(&e)
		return &e
	}
	coffee, tea := types[0].Data, msgpack.RawMessage(bytes.ReplaceAll(types[0].Data, []byte("coffee"), []byte("tea!!!")))
	tests := []struct {
		name    string
		content string
		want    error // nil: verifies
	}{
		{"as is, wire order", wireFrame(t, types, &good), nil},
		{"envelope first", mustEncodeFrame(t, types, &good), nil},
		{"data", wireFrame(t, []RawType{{"beverage", tea}, types[1]}, &good), ErrBadSignature},
		{"data bytes re-encoded", wireFrame(t, []RawType{types[0], {"ping", msgpack.RawMessage{0xcc, 1}}}, &good), ErrBadSignature},
		{"type renamed", wireFrame(t, []RawType{{"beveragf", coffee}, types[1]}, &good), ErrBadSignature},
		{"type dropped", wireFrame(t, types[:1], &good), ErrBadSignature},
		{"type added", wireFrame(t, append(types[:2:2], RawType{"x", msgpack.RawMessage{1}}), &good), ErrBadSignature},
		{"types swapped", wireFrame(t, []RawType{types[1], types[0]}, &good), ErrBadSignature},
		{"type repeated first", wireFrame(t, []RawType{{"beverage", tea}, types[0], types[1]}, &good), ErrBadSignature},
		{"type repeated last", wireFrame(t, []RawType{types[0], types[1], {"beverage", coffee}}, &good), ErrBadSignature},
		{"node", wireFrame(t, types, env(func(e *Envelope) { e.Node = "ny-2" })), ErrBadSignature},
		{"node empty", wireFrame(t, types, env(func(e *Envelope) { e.Node = "" })), ErrBadSignature},
		{"seq", wireFrame(t, types, env(func(e *Envelope) { e.Seq++ })), ErrBadSignature},
		{"time", wireFrame(t, types, env(func(e *Envelope) { e.Time-- })), ErrBadSignature},
		{"sig bit", wireFrame(t, types, env(func(e *Envelope) { e.Sig[5] ^= 1 })), ErrBadSignature},
		{"sig short", wireFrame(t, types, env(func(e *Envelope) { e.Sig = e.Sig[:31] })), ErrBadSignature},
		{"sig long", wireFrame(t, types, env(func(e *Envelope) { e.Sig = append(e.Sig, 0) })), ErrBadSignature},
		{"sig removed", wireFrame(t, types, env(func(e *Envelope) { e.Sig = nil })), ErrUnsigned},
		{"envelope removed", wireFrame(t, types, nil), ErrUnsigned},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := Split(tt.content)
			require.NoError(t, err)
			err = g.Verify(testRoom, testSecret)
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.want)
			assert.True(t, isSentinel(err))
		})
	}

	// A repeated envelope, the signed one last (where Split takes it from).
	twice := frameOf(append(bytes.Clone(mp(0x84, EnvelopeKey, 0x81, "n", "evil")),
		mustRaw(t, wireFrame(t, types, &good))[1:]...))
	g, err := Split(twice)
	require.NoError(t, err)
	assert.Equal(t, "ny-1", g.Envelope.Node)
	assert.ErrorIs(t, g.Verify(testRoom, testSecret), ErrBadSignature)
}

// mustEncodeFrame forwards raw types with EncodeFrame, which sorts the
// keys, the envelope among them.
func mustEncodeFrame(t *testing.T, types []RawType, env *Envelope) string {
	p := Payload{}
	for _, rt := range types {
		p[rt.Type] = rt.Data
	}
	content, err := EncodeFrame(p, env)
	require.NoError(t, err)
	raw, _ := frameBytes(t, content)
	require.Equal(t, byte(0xa3), raw[1], "the envelope is not first") // "_ss" sorts first
	return content
}

func mustRaw(t *testing.T, content string) []byte {
	raw, _ := frameBytes(t, content)
	return raw
}

// TestSign: Sign signs raw types as EncodeSignedFrame signs a payload, for
// frames built from raw types.
func TestSign(t *testing.T) {
	_, f := signedTestFrame(t)
	env := *f.Envelope
	env.Sig = nil
	sig, err := Sign(f.Types, &env, testRoom, testSecret)
	require.NoError(t, err)
	assert.Equal(t, []byte(f.Envelope.Sig), sig)

	// A frame built by hand, envelope first, verifies.
	types := []RawType{{"z", msgpack.RawMessage{0x91, 1}}, {"a", msgpack.RawMessage{0xc0}}}
	env = Envelope{Node: "n", Seq: 1, Time: 2}
	env.Sig, err = Sign(types, &env, testRoom, testSecret)
	require.NoError(t, err)
	s := getEncoder()
	require.NoError(t, s.enc.EncodeMapLen(3))
	require.NoError(t, s.enc.EncodeString(EnvelopeKey))
	require.NoError(t, env.encode(s.enc))
	for _, rt := range types {
		require.NoError(t, s.enc.EncodeString(rt.Type))
		s.buf.Write(rt.Data)
	}
	g, err := Split(frameOf(bytes.Clone(s.buf.Bytes())))
	putEncoder(s)
	require.NoError(t, err)
	assert.NoError(t, g.Verify(testRoom, testSecret))

	_, err = Sign(types, nil, testRoom, testSecret)
	assert.ErrorIs(t, err, ErrBadEnvelope)
	_, err = Sign(types, &env, testRoom, nil)
	assert.ErrorIs(t, err, ErrEmptySecret)
}

func TestVerifyErrors(t *testing.T) {
	_, f := signedTestFrame(t)
	assert.ErrorIs(t, f.Verify(testRoom, []byte("wrong secret")), ErrBadSignature)
	assert.ErrorIs(t, f.Verify(testRoom, append(bytes.Clone(testSecret), 'x')), ErrBadSignature)
	assert.ErrorIs(t, f.Verify(testRoom, nil), ErrEmptySecret)
	assert.ErrorIs(t, f.Verify(testRoom, []byte{}), ErrEmptySecret)

	// Unsigned frames: SmokeDetector's, and Go nodes' without a secret.
	for _, v := range loadVectors(t) {
		g, err := Split(v.Content)
		require.NoError(t, err)
		assert.ErrorIs(t, g.Verify(testRoom, testSecret), ErrUnsigned)
	}
	content, err := EncodeFrame(Payload{"a": 1}, &Envelope{Node: "n"})
	require.NoError(t, err)
	g, err := Split(content)
	require.NoError(t, err)
	assert.ErrorIs(t, g.Verify(testRoom, testSecret), ErrUnsigned)
	assert.ErrorIs(t, Frame{}.Verify(testRoom, testSecret), ErrUnsigned)

	// Signing needs an envelope and a secret.
	_, err = EncodeSignedFrame(Payload{"a": 1}, nil, testRoom, testSecret)
	assert.ErrorIs(t, err, ErrBadEnvelope)
	_, err = EncodeSignedFrame(Payload{"a": 1}, &Envelope{}, testRoom, nil)
	assert.ErrorIs(t, err, ErrEmptySecret)
	_, err = EncodeSignedFrame(Payload{EnvelopeKey: 1}, &Envelope{}, testRoom, testSecret)
	assert.ErrorIs(t, err, ErrReservedKey)
	_, err = EncodeSignedFrame(Payload{"a": make([]any, DefaultMaxArrayLen+1)}, &Envelope{}, testRoom, testSecret)
	assert.ErrorIs(t, err, ErrTooLarge)

	// A Sig the caller set is replaced.
	env := &Envelope{Node: "n", Sig: []byte("forged")}
	content, err = EncodeSignedFrame(Payload{"a": 1}, env, testRoom, testSecret)
	require.NoError(t, err)
	g, err = Split(content)
	require.NoError(t, err)
	assert.NoError(t, g.Verify(testRoom, testSecret))
	assert.Equal(t, []byte("forged"), env.Sig)
}

func TestEnvelopeSig(t *testing.T) {
	// EncodeFrame writes a Sig it is given, as the envelope's last field.
	content, err := EncodeFrame(Payload{"a": 1}, &Envelope{Node: "n", Sig: []byte{1, 2}})
	require.NoError(t, err)
	raw, _ := frameBytes(t, content)
	assert.Equal(t, mp(0x82, EnvelopeKey, 0x96, 2, "n", 0, 0, 0, 0xc4, 2, 1, 2, "a", 1), raw)
	f, err := Split(content)
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2}, f.Envelope.Sig)
	assert.Equal(t, len(f.Envelope.Sig), cap(f.Envelope.Sig), "Sig must be capped")

	for name, tt := range map[string]struct {
		env  []byte
		want *Envelope // nil: ErrBadEnvelope
	}{
		"empty sig":    {mp(0x82, "g", 0xc4, 0, "n", "x"), &Envelope{Node: "x"}},
		"sig str":      {mp(0x81, "g", "abc"), nil},
		"sig int":      {mp(0x81, "g", 1), nil},
		"sig nil":      {mp(0x81, "g", 0xc0), nil},
		"old envelope": {mp(0x83, "n", "x", "s", 1, "t", 2), &Envelope{Node: "x", Seq: 1, Time: 2}},
	} {
		t.Run(name, func(t *testing.T) {
			f, err := Split(frameOf(mp(0x82, "a", 1, EnvelopeKey, tt.env)))
			if tt.want == nil {
				assert.ErrorIs(t, err, ErrBadEnvelope)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, f.Envelope)
		})
	}
}

// Verify keeps HMACs in a pool keyed by secret: a mac last used with one
// secret must never check a frame under another, from any goroutine, and a
// signature that Sign returned is the caller's, not the pool's.
func TestVerifyPooledSecrets(t *testing.T) {
	content, f := signedTestFrame(t)
	secrets := [][]byte{testSecret, []byte("wrong secret"), append(bytes.Clone(testSecret), 'x'), testSecret[:len(testSecret)-1]}
	sig, err := Sign(f.Types, f.Envelope, testRoom, testSecret)
	require.NoError(t, err)
	want := bytes.Clone(sig)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				s := secrets[(g+i)%len(secrets)]
				err := f.Verify(testRoom, s)
				if bytes.Equal(s, testSecret) {
					assert.NoError(t, err)
				} else {
					assert.ErrorIs(t, err, ErrBadSignature)
				}
				_, err = Sign(f.Types, f.Envelope, testRoom, s)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, want, sig)
	assert.Equal(t, want, f.Envelope.Sig, content)
	if !raceEnabled {
		assert.Zero(t, testing.AllocsPerRun(100, func() { _ = f.Verify(testRoom, testSecret) }))
	}
}
