package messages

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// fuzzSeeds are the vectors and some frames that reach the corners.
func fuzzSeeds(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.Content)
	}
	withEnv, err := EncodeFrame(Payload{"ping": map[string]any{"t": 1.5}, "b": []byte{1}},
		&Envelope{Node: "n", Seq: 3, Time: 4})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(withEnv)
	f.Add(" \u200b" + withEnv[:9] + "\u200c" + withEnv[9:] + "\n")
	f.Add(frameOf(mp(0x83, "a", 1, "b", 2, "a", 0x91, 0xc0)))
	f.Add(frameOf(mp(0x81, "a", 0xdd, 0xff, 0xff, 0xff, 0xff)))
	f.Add(frameOf(mp(0x81, "a", 0xd6, 0xff, 0, 0, 0, 1)))
	f.Add(frameOf(mp(0x82, EnvelopeKey, 0x81, "s", 0xff, "a", 1)))
	f.Add(frameOf(nested(MaxDepth)))
	f.Add(frameOf(nested(DefaultMaxDepth + 1)))
	f.Add(frameOf(mp(0x81, "a", 0x81, 1, 2)))
	signed, err := EncodeSignedFrame(Payload{"ping": 1}, &Envelope{Node: "n", Seq: 1}, testRoom, []byte("k"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	merged, err := EncodeFrame(Payload{"ping": 1, "b": 2}, &Envelope{Node: "n", Seq: 5, Offsets: []uint64{0, 1}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(merged)
	f.Add(frameOf(mp(0x82, "a", 1, EnvelopeKey, 0x97, 2, "a", 1, 2, 3, 0xc4, 0, 0x91, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)))
}

// fuzzStruct gives vmihailenco/msgpack something typed to decode into.
type fuzzStruct struct {
	A  int64          `json:"a"`
	B  string         `msgpack:"b"`
	C  []any          `json:"c"`
	D  map[string]any `json:"d"`
	E  []byte         `json:"e"`
	F  float64        `json:"f"`
	T  time.Time      `json:"t"`
	N  *fuzzStruct    `json:"n"`
	U  uint8          `json:"u"`
	Xs []string       `json:"xs"`
}

func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(checkDecode)
}

func FuzzSplit(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(checkSplit)
}

// FuzzMsgpack runs both checks on frames of arbitrary msgpack: mutating
// base64 text mostly makes bad base64, so this reaches the msgpack walker
// far faster than FuzzDecode and FuzzSplit do.
func FuzzMsgpack(f *testing.F) {
	for _, v := range loadVectors(f) {
		raw, _ := frameBytes(f, v.Content)
		f.Add(raw)
	}
	f.Add(mp(0x83, "a", 1, "b", 2, "a", 0x91, 0xc0))
	f.Add(mp(0x82, EnvelopeKey, 0x83, "n", "x", "s", 1, "t", 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0, "a", 0xc7, 12, 0xff, make([]byte, 12)))
	f.Add(nested(MaxDepth))
	f.Fuzz(func(t *testing.T, raw []byte) {
		content := frameOf(raw)
		checkDecode(t, content)
		checkSplit(t, content)
	})
}

// checkDecode: DecodeFrame never panics, fails only with a sentinel, and what it
// decodes encodes again to the same payload.
func checkDecode(t *testing.T, content string) {
	p, err := DecodeFrame(content)
	if err != nil {
		if !isSentinel(err) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		if p != nil {
			t.Fatal("payload with an error")
		}
		return
	}
	delete(p, EnvelopeKey)
	out, err := Encode(p)
	if errors.Is(err, ErrTooLarge) {
		return // float32s grow to float64s
	}
	if err != nil {
		t.Fatalf("re-encoding a decoded payload: %v", err)
	}
	q, err := DecodeFrame(out)
	if err != nil {
		t.Fatalf("decoding the re-encoded payload: %v", err)
	}
	if !equalCanon(canon(p), canon(q)) {
		t.Fatalf("round trip changed the payload:\n%#v\n%#v", p, q)
	}
	f, err := Split(out)
	if err != nil {
		t.Fatalf("splitting an encoded payload: %v", err)
	}
	if len(f.Types) != len(p) || f.Envelope != nil {
		t.Fatalf("split %d types, payload has %d", len(f.Types), len(p))
	}
}

// checkSplit: Split never panics, agrees with DecodeFrame, and its raw types
// forward unchanged.
func checkSplit(t *testing.T, content string) {
	fr, err := Split(content)
	p, derr := DecodeFrame(content)
	if err != nil {
		if !isSentinel(err) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		if fr.Types != nil || fr.Envelope != nil {
			t.Fatal("frame with an error")
		}
		if derr == nil && !errors.Is(err, ErrBadEnvelope) {
			t.Fatalf("Split failed (%v) where Decode succeeded", err)
		}
		return
	}
	if derr != nil {
		t.Fatalf("Split succeeded where Decode failed: %v", derr)
	}
	_, hasEnv := p[EnvelopeKey]
	if hasEnv != (fr.Envelope != nil) {
		t.Fatalf("envelope: Decode %v, Split %v", hasEnv, fr.Envelope)
	}
	delete(p, EnvelopeKey)
	if len(fr.Types) != len(p) {
		t.Fatalf("Split has %d types, Decode %d", len(fr.Types), len(p))
	}
	fwd := Payload{}
	for _, rt := range fr.Types {
		want, ok := p[rt.Type]
		if !ok {
			t.Fatalf("type %q only in Split", rt.Type)
		}
		if _, dup := fwd[rt.Type]; dup {
			t.Fatalf("type %q twice", rt.Type)
		}
		if len(rt.Data) != cap(rt.Data) {
			t.Fatal("Data not capped")
		}
		got, end, err := decodeValue(rt.Data, 0, 2)
		if err != nil || end != len(rt.Data) {
			t.Fatalf("type %q: Data does not decode alone: %v", rt.Type, err)
		}
		if !equalCanon(canon(want), canon(got)) {
			t.Fatalf("type %q: Split and Decode disagree:\n%#v\n%#v", rt.Type, want, got)
		}
		var loose any
		if err := unmarshal(rt.Data, &loose); err != nil {
			t.Fatalf("type %q: unmarshal into any: %v", rt.Type, err)
		}
		var typed fuzzStruct
		_ = unmarshal(rt.Data, &typed) // may not fit; must not panic
		fwd[rt.Type] = rt.Data
	}

	// Forward the raw types on: the same types and bytes come back.
	out, err := EncodeFrame(fwd, fr.Envelope)
	if err != nil {
		t.Fatalf("forwarding: %v", err) // raw values never grow
	}
	again, err := Split(out)
	if err != nil {
		t.Fatalf("splitting the forwarded frame: %v", err)
	}
	if len(again.Types) != len(fr.Types) {
		t.Fatal("forwarding changed the types")
	}
	for _, rt := range again.Types {
		if !bytes.Equal(rt.Data, fwd[rt.Type].(msgpack.RawMessage)) {
			t.Fatalf("type %q: forwarding changed the data", rt.Type)
		}
	}
	if (fr.Envelope == nil) != (again.Envelope == nil) ||
		fr.Envelope != nil && !envEqual(*fr.Envelope, *again.Envelope) {
		t.Fatalf("envelope %v became %v", fr.Envelope, again.Envelope)
	}
}

// envEqual compares envelopes, a nil Sig equal to an empty one.
func envEqual(a, b Envelope) bool {
	return a.Node == b.Node && a.Seq == b.Seq && a.Time == b.Time && bytes.Equal(a.Sig, b.Sig)
}

// equalCanon compares canonical forms (see canon).
func equalCanon(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			w, ok := b[k]
			if !ok || !equalCanon(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equalCanon(a[i], b[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

// FuzzClassify checks that Classify, which reads only a prefix, agrees with
// the full normalisation that receivers apply before they decode.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{FramePrefix + "1234AA==\x03", FragmentPrefix, "\u200b.\r\n\x02", "\x1c.\n\x0f", "coffee", ". \x02"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		s := strip(content)
		want := KindChat
		switch {
		case strings.HasPrefix(s, FramePrefix):
			want = KindFrame
		case strings.HasPrefix(s, FragmentPrefix):
			want = KindFragment
		}
		if got := Classify(content); got != want {
			t.Fatalf("Classify(%q) = %v, strip gives %q (%v)", content, got, s, want)
		}
	})
}
