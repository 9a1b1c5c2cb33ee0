package messages

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzLimits are small, so that short inputs reach every limit.
var fuzzLimits = ReassemblyLimits{
	MaxFragments:        6,
	MaxBytesPerSender:   1500,
	MaxBytesTotal:       2500,
	MaxPendingPerSender: 3,
	Timeout:             10 * time.Second,
}

var fuzzFragIDs = [...]string{"0000000000000000", "00000000000000ff", "0123456789abcdef"}

// fuzzAlphabets: each structured sender's chunks are runs of its letter for
// the piece's index, so a reassembled frame shows whose pieces, and which,
// it was made of.
var fuzzAlphabets = [...]string{"ABCDEFGH", "abcdefgh", "01234567"}

// Reassembly ops, each starting with a byte b: b%4 is the kind, (b>>2)%3
// the sender of a structured piece, b>>4 the seconds that pass first.
//
//	0, 1: a structured piece: 4 bytes: id (%3), index (%8), count (%8),
//	      chunk length (*4); the chunk repeats the sender's letter for index
//	2:    raw text from sender 3: 1 byte length, then the text
//	3:    Expire
func fuzzOps(pieces ...[]byte) []byte {
	return bytes.Join(pieces, nil)
}

func structuredOp(sender, dt, id, index, count, chunkLen int) []byte {
	return []byte{byte(dt<<4 | sender<<2), byte(id), byte(index), byte(count), byte(chunkLen / 4)}
}

func rawOp(dt int, text string) []byte {
	return append([]byte{byte(dt<<4 | 2), byte(len(text))}, text...)
}

func FuzzReassemble(f *testing.F) {
	// A complete payload, in order and reversed; a conflict; an overflow;
	// an expiry; raw fragments from Fragment, and junk.
	f.Add(fuzzOps(structuredOp(0, 0, 0, 0, 3, 8), structuredOp(0, 1, 0, 1, 3, 8), structuredOp(0, 1, 0, 2, 3, 4)))
	f.Add(fuzzOps(structuredOp(1, 0, 1, 2, 3, 8), structuredOp(1, 0, 1, 1, 3, 0), structuredOp(1, 0, 1, 1, 3, 0),
		structuredOp(1, 0, 1, 0, 3, 8)))
	f.Add(fuzzOps(structuredOp(0, 0, 2, 0, 2, 8), structuredOp(0, 0, 2, 0, 2, 12), structuredOp(0, 0, 2, 1, 2, 4)))
	f.Add(fuzzOps(structuredOp(2, 0, 0, 0, 5, 1000), structuredOp(2, 0, 0, 1, 5, 1000), structuredOp(1, 0, 0, 0, 5, 1000),
		structuredOp(0, 0, 0, 0, 5, 1000), structuredOp(2, 0, 1, 0, 5, 8), structuredOp(2, 0, 2, 0, 5, 8)))
	f.Add(fuzzOps(structuredOp(0, 0, 0, 0, 2, 8), []byte{15<<4 | 3}, structuredOp(0, 0, 0, 1, 2, 8)))
	pieces, err := Fragment(strings.Repeat("xyz", 40), 60, fuzzFragIDs[2])
	if err != nil {
		f.Fatal(err)
	}
	var ops []byte
	for i := len(pieces) - 1; i >= 0; i-- {
		ops = append(ops, rawOp(0, pieces[i])...)
	}
	f.Add(ops)
	f.Add(fuzzOps(rawOp(1, FragmentPrefix+fuzzFragIDs[0]+" 0/2 \x03"), rawOp(0, "junk"), rawOp(0, FragmentPrefix)))

	f.Fuzz(func(t *testing.T, ops []byte) {
		r := NewReassembler(fuzzLimits)
		now := testNow
		for len(ops) > 0 {
			b := ops[0]
			now = now.Add(time.Duration(b>>4) * time.Second)
			var sender int64
			var content string
			switch b % 4 {
			case 0, 1:
				if len(ops) < 5 {
					return
				}
				sender = int64(b>>2) % 3
				id, index, count, n := ops[1]%3, int(ops[2]%8), int(ops[3]%8), int(ops[4])*4
				chunk := strings.Repeat(fuzzAlphabets[sender][index:index+1], n)
				content = fmt.Sprintf("%s%s %d/%d %s\x03", FragmentPrefix, fuzzFragIDs[id], index, count, chunk)
				ops = ops[5:]
			case 2:
				if len(ops) < 2 {
					return
				}
				n := min(int(ops[1]), len(ops)-2)
				sender, content = 3, string(ops[2:2+n])
				ops = ops[2+n:]
				if (Classify(content) == KindFragment) != strings.HasPrefix(strip(content), FragmentPrefix) {
					t.Fatalf("Classify(%q) is wrong", content)
				}
			case 3:
				r.Expire(now)
				checkReassembler(t, r)
				ops = ops[1:]
				continue
			}
			frame, done, err := r.Add(strconv.FormatInt(sender, 10), content, now)
			checkReassembler(t, r)
			if _, held := r.Pending(); held > fuzzLimits.MaxBytesTotal {
				t.Fatalf("holding %d bytes", held)
			}
			if err != nil {
				if done || frame != "" {
					t.Fatal("a frame with an error")
				}
				if !errors.Is(err, ErrBadFragment) && !errors.Is(err, ErrFragmentConflict) &&
					!errors.Is(err, ErrFragmentLimit) {
					t.Fatalf("error wraps no sentinel: %v", err)
				}
				continue
			}
			if !done {
				if frame != "" {
					t.Fatal("a frame before done")
				}
				continue
			}
			if len(frame) > fuzzLimits.MaxBytesPerSender {
				t.Fatalf("a %d-byte frame", len(frame))
			}
			if sender < 3 {
				// Runs of the sender's letters, in index order.
				last := -1
				for i := range len(frame) {
					idx := strings.IndexByte(fuzzAlphabets[sender], frame[i])
					if idx < last {
						t.Fatalf("sender %d got %q", sender, frame)
					}
					last = idx
				}
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	content, err := EncodeSignedFrame(Payload{"beverage": map[string]any{"beverage_type": "coffee"}, "ping": 1},
		&Envelope{Node: "ny-1", Seq: 3, Time: 1700000000123}, testRoom, []byte("secret"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(content, []byte("secret"), "beverage", []byte("coffee"), "ny-1", uint64(3), int64(4), uint16(0))
	f.Add(content, []byte("wrong"), "ping", []byte{}, "", uint64(0), int64(-1), uint16(77))
	for _, v := range loadVectors(f)[:3] {
		f.Add(v.Content, []byte("k"), "a", []byte{0xff}, "\xff", uint64(1<<63), int64(-1<<63), uint16(9))
	}
	f.Add(frameOf(mp(0x82, "a", 1, EnvelopeKey, 0x81, "g", 0xc4, 1, 0)), []byte("k"), EnvelopeKey, []byte{}, "n", uint64(1), int64(1), uint16(1))
	f.Add("", []byte{}, "", []byte{}, "", uint64(0), int64(0), uint16(0))

	f.Fuzz(func(t *testing.T, content string, secret []byte, typ string, data []byte, node string,
		seq uint64, tm int64, flip uint16) {
		// Verify on anything Split accepts never panics, and answers with
		// a sentinel.
		if fr, err := Split(content); err == nil {
			err := fr.Verify(testRoom, secret)
			if err != nil && !errors.Is(err, ErrUnsigned) && !errors.Is(err, ErrBadSignature) &&
				!errors.Is(err, ErrEmptySecret) {
				t.Fatalf("Verify: %v", err)
			}
			if err == nil && len(fr.Envelope.Sig) > 0 {
				bad := *fr.Envelope
				bad.Sig = bytes.Clone(bad.Sig)
				bad.Sig[int(flip)%len(bad.Sig)] ^= 1 << (flip % 8)
				fr.Envelope = &bad
				if !errors.Is(fr.Verify(testRoom, secret), ErrBadSignature) {
					t.Fatal("a flipped signature verifies")
				}
			}
		}

		// What EncodeSignedFrame makes always verifies, and nothing else.
		env := &Envelope{Node: node, Seq: seq, Time: tm}
		signed, err := EncodeSignedFrame(Payload{typ: data, "zz": typ}, env, testRoom, secret)
		switch {
		case len(secret) == 0:
			if !errors.Is(err, ErrEmptySecret) {
				t.Fatalf("empty secret: %v", err)
			}
			return
		case typ == "" || typ == EnvelopeKey || !utf8.ValidString(typ) || !utf8.ValidString(node):
			if err == nil {
				t.Fatal("signed a payload no receiver would take")
			}
			return
		case err != nil:
			t.Fatalf("EncodeSignedFrame: %v", err)
		}
		fr, err := Split(signed)
		if err != nil {
			t.Fatalf("Split: %v", err)
		}
		if err := fr.Verify(testRoom, secret); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if fr.Envelope.Node != node || fr.Envelope.Seq != seq || fr.Envelope.Time != tm {
			t.Fatalf("envelope %+v", fr.Envelope)
		}
		if err := fr.Verify(testRoom, append(bytes.Clone(secret), '!')); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("verifies under another secret: %v", err)
		}
		if _, err := DecodeFrame(signed); err != nil {
			t.Fatalf("Decode: %v", err)
		}

		// One bit flipped in the first type or its data: the frame no
		// longer splits, or no longer verifies (the flip may also turn the
		// rest of the frame, envelope and all, into that type's data, and
		// leave it unsigned).
		raw, err := decodeBase64(make([]byte, len(signed)), signed[len(FramePrefix)+idLen:len(signed)-1])
		if err != nil {
			t.Fatal(err)
		}
		var w walker
		w.initCeiling(raw)
		_, start, err := w.topMap()
		if err != nil {
			t.Fatal(err)
		}
		_, ke, err := w.topKey(start)
		if err != nil {
			t.Fatal(err)
		}
		end, err := w.skip(ke, 2)
		if err != nil {
			t.Fatal(err)
		}
		raw[start+int(flip)%(end-start)] ^= 1 << (flip >> 8 % 8)
		if g, err := Split(frameOf(raw)); err == nil {
			if err := g.Verify(testRoom, secret); !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrUnsigned) {
				t.Fatalf("a frame with a flipped bit: %v", err)
			}
		}
	})
}
