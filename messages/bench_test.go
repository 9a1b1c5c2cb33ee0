package messages

import (
	"encoding/base64"
	"testing"
	"time"
)

// benchFrames are the shared vectors plus a Go node's frame, which carries
// an envelope.
func benchFrames(b *testing.B) []vector {
	vs := loadVectors(b)
	content, err := EncodeFrame(Payload{"beverage": map[string]any{"message_id": 44402065, "beverage_type": "coffee"}},
		&Envelope{Node: "ny-1", Seq: 1234, Time: 1700000000123})
	if err != nil {
		b.Fatal(err)
	}
	return append(vs, vector{Name: "go node with envelope", Content: content})
}

func BenchmarkDecode(b *testing.B) {
	for _, v := range benchFrames(b) {
		b.Run(v.Name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(v.Content)))
			for b.Loop() {
				if _, err := DecodeFrame(v.Content); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSplit(b *testing.B) {
	for _, v := range benchFrames(b) {
		b.Run(v.Name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(v.Content)))
			for b.Loop() {
				if _, err := Split(v.Content); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, v := range benchFrames(b)[:len(loadVectors(b))] {
		p := jsonPayload(b, v.Payload)
		b.Run(v.Name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Encode(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	secret := []byte("correct horse battery staple")
	env := &Envelope{Node: "ny-1", Seq: 1234, Time: 1700000000123}
	for _, v := range benchFrames(b) {
		p := Payload{"beverage": map[string]any{"message_id": 44402065, "beverage_type": "coffee"}}
		if len(v.Payload) > 0 {
			p = jsonPayload(b, v.Payload)
		}
		content, err := EncodeSignedFrame(p, env, testRoom, secret)
		if err != nil {
			b.Fatal(err)
		}
		f, err := Split(content)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(v.Name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(content)))
			for b.Loop() {
				if err := f.Verify(testRoom, secret); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// Signing, and the whole receive path for a 50 KB frame.
	b.Run("sign beverage", func(b *testing.B) {
		p := Payload{"beverage": map[string]any{"message_id": 44402065, "beverage_type": "coffee"}}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := EncodeSignedFrame(p, env, testRoom, secret); err != nil {
				b.Fatal(err)
			}
		}
	})
	big, err := EncodeSignedFrame(Payload{"blob": make([]byte, 37_000)}, env, testRoom, secret)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("split and verify 50KB", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(big)))
		for b.Loop() {
			f, err := Split(big)
			if err != nil {
				b.Fatal(err)
			}
			if err := f.Verify(testRoom, secret); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReassemble puts a 50 KB frame, cut into 500-byte pieces (as
// for IRC), back together.
func BenchmarkReassemble(b *testing.B) {
	frame, err := Encode(Payload{"blob": make([]byte, 37_000)})
	if err != nil {
		b.Fatal(err)
	}
	pieces, err := Fragment(frame, 500, NewFragmentID(7))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d bytes in %d pieces", len(frame), len(pieces))
	r := NewReassembler(ReassemblyLimits{})
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		for i, p := range pieces {
			got, done, err := r.Add("1", p, now)
			if err != nil || done != (i == len(pieces)-1) || done && len(got) != len(frame) {
				b.Fatal(err, done)
			}
		}
	}
}

func BenchmarkFragment(b *testing.B) {
	frame, err := Encode(Payload{"blob": make([]byte, 37_000)})
	if err != nil {
		b.Fatal(err)
	}
	id := NewFragmentID(7)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := Fragment(frame, 500, id); err != nil {
			b.Fatal(err)
		}
	}
}

// benchBeverage is what a typed handler decodes a beverage into, as
// README's example declares it.
type benchBeverage struct {
	MessageID    int64  `json:"message_id"`
	BeverageType string `json:"beverage_type"`
	Location     string `json:"location"`
}

// BenchmarkDecodeTyped decodes one beverage's data into a struct, as
// Handle[T] does for each payload (with a TypedDecoder; before it had one,
// with Message.Decode).
func BenchmarkDecodeTyped(b *testing.B) {
	content, err := Encode(Payload{"beverage": map[string]any{
		"message_id": 44402065, "beverage_type": "coffee", "location": "SmokeDetector/ny-bot-01/3f2a9c1",
	}})
	if err != nil {
		b.Fatal(err)
	}
	f, err := Split(content)
	if err != nil {
		b.Fatal(err)
	}
	m := Message{Type: "beverage", Data: f.Types[0].Data}
	dec := NewTypedDecoder[benchBeverage]()
	b.ReportAllocs()
	for b.Loop() {
		var v benchBeverage
		if err := dec.Decode(m, &v); err != nil || v.MessageID != 44402065 {
			b.Fatal(err, v)
		}
	}
}

// BenchmarkBase64 decodes a SmokeDetector frame's base64, with
// decodeBase64 and, to compare, with encoding/base64 alone.
func BenchmarkBase64(b *testing.B) {
	body, err := frameBody(loadVectors(b)[len(loadVectors(b))-1].Content, &Limits{})
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
	b.Run("decodeBase64", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeBase64(dst, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/base64", func(b *testing.B) {
		src := []byte(body)
		for b.Loop() {
			if _, err := base64.StdEncoding.Decode(dst, src); err != nil {
				b.Fatal(err)
			}
		}
	})
}
