package messages

import (
	"fmt"
	"testing"
)

func estimate(raw []byte) int {
	w := ceilingWalker(raw)
	if err := w.payload(); err != nil {
		panic(err)
	}
	return w.size
}

func arr(n int, elem []byte) []byte {
	b := []byte{0xdd, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	for range n {
		b = append(b, elem...)
	}
	return b
}

func bigmap(n int, val []byte) []byte {
	b := []byte{0xdf, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	for i := range n {
		b = append(b, mp(fmt.Sprintf("k%06d", i))...)
		b = append(b, val...)
	}
	return b
}

func TestCalib(t *testing.T) {
	shapes := map[string][]byte{
		"empty maps":    mp(0x81, "a", arr(20000, []byte{0x80})),
		"1-maps":        mp(0x81, "a", arr(20000, mp(0x81, "", 0))),
		"8-maps":        mp(0x81, "a", arr(5000, mp(0x88, "a", 0, "b", 0, "c", 0, "d", 0, "e", 0, "f", 0, "g", 0, "h", 0))),
		"9-maps":        mp(0x81, "a", arr(5000, mp(0x89, "a", 0, "b", 0, "c", 0, "d", 0, "e", 0, "f", 0, "g", 0, "h", 0, "i", 0))),
		"big map":       mp(0x81, "a", bigmap(10000, []byte{0xc0})),
		"big map 3000":  mp(0x81, "a", bigmap(3000, []byte{0xc0})),
		"big map 65":  mp(0x81, "a", arr(100, bigmap(65, []byte{0xc0}))),
		"big map 100":  mp(0x81, "a", arr(100, bigmap(100, []byte{0xc0}))),
		"big map 200":  mp(0x81, "a", arr(100, bigmap(200, []byte{0xc0}))),
		"nil array":     mp(0x81, "a", arr(100000, []byte{0xc0})),
		"empty arrays":  mp(0x81, "a", arr(100000, []byte{0x90})),
		"ints 300":      mp(0x81, "a", arr(100000, []byte{0xcd, 1, 0x2c})),
		"floats":        mp(0x81, "a", arr(40000, []byte{0xca, 1, 2, 3, 4})),
		"str 1":         mp(0x81, "a", arr(100000, mp("x"))),
		"str 0":         mp(0x81, "a", arr(100000, mp(""))),
		"str 20":        mp(0x81, "a", arr(30000, mp("xxxxxxxxxxxxxxxxxxxx"))),
		"bin 0":         mp(0x81, "a", arr(100000, []byte{0xc4, 0})),
		"times":         mp(0x81, "a", arr(40000, []byte{0xd6, 0xff, 0, 0, 0, 1})),
	}
	for name, raw := range shapes {
		est := estimate(raw)
		content := frameOf(raw)
		var err error
		Decode(content) // warm pools
		got := heapGrowth(func() { _, err = Limits{MaxDecodedSize: 1 << 40, MaxArrayLen: 1 << 30, MaxMapLen: 1 << 30}.Decode(content) })
		if err != nil {
			t.Fatal(err)
		}
		got -= uint64(len(raw)) // base64 buffer
		t.Logf("%-14s raw %7d est %9d real %9d ratio %.2f", name, len(raw), est, got, float64(got)/float64(est))
	}
}
