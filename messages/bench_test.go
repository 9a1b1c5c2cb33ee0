package messages

import (
	"testing"
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
				if _, err := Decode(v.Content); err != nil {
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
