package messages

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A small frame of one type is split with one allocation; with more types,
// or more bytes, it takes two, and each comes out right.
func TestSplitAllocations(t *testing.T) {
	for _, c := range []struct {
		p      Payload
		allocs float64
	}{
		{Payload{"beverage": map[string]any{"message_id": 1, "beverage_type": "coffee"}}, 1},
		{Payload{"a": 1, "b": 2}, 2},
		{Payload{"blob": make([]byte, 120)}, 2},
		{Payload{"blob": make([]byte, 100)}, 1},
		{Payload{}, 1},
	} {
		content, err := Encode(c.p)
		require.NoError(t, err)
		f, err := Split(content)
		require.NoError(t, err)
		if len(c.p) == 0 {
			assert.Nil(t, f.Types)
		}
		require.Len(t, f.Types, len(c.p))
		for _, rt := range f.Types {
			var v any
			require.NoError(t, Message{Type: rt.Type, Data: rt.Data}.Decode(&v))
			assert.NotNil(t, v, rt.Type)
		}
		assert.Equal(t, c.allocs, testing.AllocsPerRun(100, func() {
			if _, err := Split(content); err != nil {
				t.Fatal(err)
			}
		}), "%v", c.p)
	}
}

// SplitInto keeps a frame that fits in the caller's buffers, allocating
// nothing, and otherwise splits as Split does; either way the result is
// Split's.
func TestSplitInto(t *testing.T) {
	var into struct {
		types [1]RawType
		buf   [64]byte
	}
	for _, v := range loadVectors(t) {
		want, wantErr := Split(v.Content)
		got, err := Limits{}.SplitInto(v.Content, into.buf[:], into.types[:])
		if wantErr != nil {
			assert.Equal(t, wantErr, err, v.Name)
			continue
		}
		require.NoError(t, err, v.Name)
		assert.Equal(t, want, got, v.Name)
	}
	content, err := Encode(Payload{"beverage": map[string]any{"message_id": 1, "beverage_type": "coffee"}})
	require.NoError(t, err)
	f, err := Limits{}.SplitInto(content, into.buf[:], into.types[:])
	require.NoError(t, err)
	require.Len(t, f.Types, 1)
	assert.Same(t, &into.types[0], &f.Types[0], "the caller's types")
	d := uintptr(unsafe.Pointer(&f.Types[0].Data[0]))
	assert.True(t, d >= uintptr(unsafe.Pointer(&into.buf[0])) && d < uintptr(unsafe.Pointer(&into.buf[0]))+uintptr(len(into.buf)), "the caller's bytes")
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		if _, err := (Limits{}).SplitInto(content, into.buf[:], into.types[:]); err != nil {
			t.Fatal(err)
		}
	}))
	// Too small a buffer: Split's own allocation, nothing written.
	var small [8]byte
	f, err = Limits{}.SplitInto(content, small[:], nil)
	require.NoError(t, err)
	assert.Equal(t, [8]byte{}, small)
	var v map[string]any
	require.NoError(t, Message{Data: f.Types[0].Data}.Decode(&v))
	assert.Equal(t, "coffee", v["beverage_type"])
}

// strip's shortcut for text with nothing to trim at its ASCII ends agrees
// with the full trim, at each kind of end.
func TestStripShortcut(t *testing.T) {
	for _, s := range []string{"", " ", "a", ".\n\x02x\x03", " .\n\x02x\x03", ".\n\x02x\x03\n", "\x1c.x", "x\x1f",
		"\u00a0x", "x\u00a0", "\u3000x\u3000", "\u200bx", "x\r", "\rx", "\u0085x", "x\x00", "\x00x"} {
		assert.Equal(t, strings.TrimFunc(zeroWidth.Replace(s), isPySpace), strip(s), "%q", s)
	}
}
