package messages

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// arrayOf is a msgpack array32 of n copies of elem.
func arrayOf(n int, elem []byte) []byte {
	b := []byte{0xdd, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	for range n {
		b = append(b, elem...)
	}
	return b
}

// mapOf is a msgpack map32 of n entries "k<i>": val.
func mapOf(n int, val []byte) []byte {
	b := []byte{0xdf, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	for i := range n {
		b = append(b, mp(fmt.Sprintf("k%06d", i))...)
		b = append(b, val...)
	}
	return b
}

// repeatedMap is a payload map32 of n entries, all "a": 1.
func repeatedMap(n int) []byte {
	b := []byte{0xdf, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	for range n {
		b = append(b, mp("a", 1)...)
	}
	return b
}

// str32 is a msgpack str32 (or bin32) of n bytes of 'x'.
func str32(code byte, n int) []byte {
	b := []byte{code, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	return append(b, strings.Repeat("x", n)...)
}

// estimate is the decoded-size estimate of a payload, with no limits.
func estimate(tb testing.TB, raw []byte) int {
	tb.Helper()
	var w walker
	w.init(raw, &Limits{MaxDecodedSize: math.MaxInt, MaxArrayLen: math.MaxInt, MaxMapLen: math.MaxInt,
		MaxStringLen: math.MaxInt, MaxDepth: MaxDepth})
	require.NoError(tb, w.payload())
	return w.size
}

// sizedFrame returns {"a": [n empty maps]}, with n chosen so that its
// decoded-size estimate is as large as it can be without passing limit.
func sizedFrame(tb testing.TB, limit int) (under, over []byte) {
	base := estimate(tb, mp(0x81, "a", arrayOf(0, nil)))
	per := estimate(tb, mp(0x81, "a", arrayOf(1, []byte{0x80}))) - base
	n := (limit - base) / per
	under = mp(0x81, "a", arrayOf(n, []byte{0x80}))
	over = mp(0x81, "a", arrayOf(n+1, []byte{0x80}))
	require.LessOrEqual(tb, estimate(tb, under), limit)
	require.Greater(tb, estimate(tb, over), limit)
	return under, over
}

// TestLimitsTable: for each limit, at its default, a frame just under it
// passes DecodeFrame and Split, and one just over fails both with the named
// error, a *LimitError naming the limit.
func TestLimitsTable(t *testing.T) {
	bigText := Limits{MaxFrameLen: 8 << 20} // for strings over the default frame
	okFrame := frameOf(mp(0x81, "a", 1))
	sizeUnder, sizeOver := sizedFrame(t, DefaultMaxDecodedSize)
	tests := []struct {
		limit       string
		l           Limits
		under, over string
		want        error
	}{
		{"MaxFrameLen", Limits{},
			okFrame + strings.Repeat(" ", DefaultMaxFrameLen-len(okFrame)),
			okFrame + strings.Repeat(" ", DefaultMaxFrameLen-len(okFrame)+1), ErrTooLarge},
		{"MaxDepth", Limits{},
			frameOf(nested(DefaultMaxDepth)), frameOf(nested(DefaultMaxDepth + 1)), ErrTooDeep},
		{"MaxMapLen", Limits{}, // the payload map
			frameOf(repeatedMap(DefaultMaxMapLen)), frameOf(repeatedMap(DefaultMaxMapLen + 1)), ErrTooLarge},
		{"MaxMapLen", Limits{}, // a nested map
			frameOf(mp(0x81, "a", mapOf(DefaultMaxMapLen, []byte{0xc0}))),
			frameOf(mp(0x81, "a", mapOf(DefaultMaxMapLen+1, []byte{0xc0}))), ErrTooLarge},
		{"MaxArrayLen", Limits{},
			frameOf(mp(0x81, "a", arrayOf(DefaultMaxArrayLen, []byte{0xc0}))),
			frameOf(mp(0x81, "a", arrayOf(DefaultMaxArrayLen+1, []byte{0xc0}))), ErrTooLarge},
		{"MaxStringLen", bigText, // str
			frameOf(mp(0x81, "a", str32(0xdb, DefaultMaxStringLen))),
			frameOf(mp(0x81, "a", str32(0xdb, DefaultMaxStringLen+1))), ErrTooLarge},
		{"MaxStringLen", bigText, // bin
			frameOf(mp(0x81, "a", str32(0xc6, DefaultMaxStringLen))),
			frameOf(mp(0x81, "a", str32(0xc6, DefaultMaxStringLen+1))), ErrTooLarge},
		{"MaxStringLen", bigText, // a key
			frameOf(mp(0x81, "a", 0x81, str32(0xdb, DefaultMaxStringLen), 1)),
			frameOf(mp(0x81, "a", 0x81, str32(0xdb, DefaultMaxStringLen+1), 1)), ErrTooLarge},
		{"MaxStringLen", bigText, // a type
			frameOf(mp(0x81, str32(0xdb, DefaultMaxStringLen), 1)),
			frameOf(mp(0x81, str32(0xdb, DefaultMaxStringLen+1), 1)), ErrTooLarge},
		{"MaxDecodedSize", Limits{}, frameOf(sizeUnder), frameOf(sizeOver), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.limit, func(t *testing.T) {
			for _, l := range []Limits{tt.l, {MaxFrameLen: tt.l.MaxFrameLen, MaxDepth: -1, MaxMapLen: -5}} {
				_, err := l.DecodeFrame(tt.under)
				require.NoError(t, err)
				_, err = l.Split(tt.under)
				require.NoError(t, err)

				p, err := l.DecodeFrame(tt.over)
				assert.Nil(t, p)
				f, serr := l.Split(tt.over)
				assert.Nil(t, f.Types)
				for _, err := range []error{err, serr} {
					require.ErrorIs(t, err, tt.want)
					var le *LimitError
					require.True(t, errors.As(err, &le), "%v", err)
					assert.Equal(t, tt.limit, le.Limit)
					assert.Greater(t, le.Got, le.Max)
					assert.Contains(t, err.Error(), tt.limit)
					assert.True(t, strings.HasPrefix(err.Error(), "messages: "), err.Error())
				}
			}
		})
	}
}

// TestLimitsSet: each limit can be set lower, and higher, than its default.
func TestLimitsSet(t *testing.T) {
	frame := frameOf(mp(0x82, "a", 0x93, 1, 2, 3, "b", 0x82, "xy", "hello", "z", 0x91, 0x91, 0xc4, 2, 1, 2))
	est := estimate(t, mp(0x82, "a", 0x93, 1, 2, 3, "b", 0x82, "xy", "hello", "z", 0x91, 0x91, 0xc4, 2, 1, 2))
	tests := []struct {
		ok, bad Limits
		limit   string
	}{
		{Limits{MaxFrameLen: len(frame)}, Limits{MaxFrameLen: len(frame) - 1}, "MaxFrameLen"},
		{Limits{MaxDepth: 4}, Limits{MaxDepth: 3}, "MaxDepth"},
		{Limits{MaxMapLen: 2}, Limits{MaxMapLen: 1}, "MaxMapLen"},
		{Limits{MaxArrayLen: 3}, Limits{MaxArrayLen: 2}, "MaxArrayLen"},
		{Limits{MaxStringLen: 5}, Limits{MaxStringLen: 4}, "MaxStringLen"},
		{Limits{MaxDecodedSize: est}, Limits{MaxDecodedSize: est - 1}, "MaxDecodedSize"},
	}
	for _, tt := range tests {
		t.Run(tt.limit, func(t *testing.T) {
			_, err := tt.ok.DecodeFrame(frame)
			require.NoError(t, err)
			_, err = tt.ok.Split(frame)
			require.NoError(t, err)
			_, err = tt.bad.DecodeFrame(frame)
			var le *LimitError
			require.ErrorAs(t, err, &le)
			assert.Equal(t, tt.limit, le.Limit)
			_, err = tt.bad.Split(frame)
			require.ErrorAs(t, err, &le)
			assert.Equal(t, tt.limit, le.Limit)
		})
	}

	// Limits above the defaults, and lifted ones.
	deep := frameOf(nested(60))
	_, err := DecodeFrame(deep)
	assert.ErrorIs(t, err, ErrTooDeep)
	_, err = Limits{MaxDepth: 60}.DecodeFrame(deep)
	assert.NoError(t, err)
	// MaxDepth stops at the MaxDepth ceiling.
	_, err = Limits{MaxDepth: math.MaxInt}.Split(frameOf(nested(MaxDepth)))
	assert.NoError(t, err)
	_, err = Limits{MaxDepth: math.MaxInt}.Split(frameOf(nested(MaxDepth + 1)))
	assert.ErrorIs(t, err, ErrTooDeep)
	lifted := Limits{MaxArrayLen: math.MaxInt, MaxDecodedSize: math.MaxInt}
	_, err = lifted.DecodeFrame(frameOf(mp(0x81, "a", arrayOf(DefaultMaxArrayLen*3, []byte{0xc0}))))
	assert.NoError(t, err)
}

// TestDefaultLimits: DefaultLimits spells out the defaults, which the zero
// Limits means, and a caller changing its copy changes nobody else's.
func TestDefaultLimits(t *testing.T) {
	var zero, def walker
	zero.init(nil, &Limits{})
	l := DefaultLimits()
	def.init(nil, &l)
	assert.Equal(t, zero, def)
	want := Limits{MaxFrameLen: DefaultMaxFrameLen, MaxDepth: 32, MaxMapLen: 10_000,
		MaxArrayLen: 100_000, MaxStringLen: 1 << 20, MaxDecodedSize: 4 << 20}
	assert.Equal(t, want, l)
	l.MaxFrameLen = 1
	assert.Equal(t, want, DefaultLimits())
}

// TestLimitNoAllocation: a frame over a limit fails before anything is
// decoded. The frame would decode to 3.2 MB of []any; rejecting it costs
// its base64 buffer.
func TestLimitNoAllocation(t *testing.T) {
	raw := mp(0x81, "a", arrayOf(2*DefaultMaxArrayLen, []byte{0xc0}))
	content := frameOf(raw)
	var err error
	grew := heapGrowth(func() {
		for range 10 {
			_, err = DecodeFrame(content)
		}
	})
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.Less(t, grew, uint64(10*len(raw)+64<<10), "heap grew %d bytes", grew)
}

// TestHugeHeadersLifted: even with every limit lifted, a header claiming
// more than the frame holds costs nothing (TestHugeHeaders does the same
// with the defaults).
func TestHugeHeadersLifted(t *testing.T) {
	max32 := []byte{0xff, 0xff, 0xff, 0xff}
	lifted := Limits{MaxDepth: math.MaxInt, MaxMapLen: math.MaxInt, MaxArrayLen: math.MaxInt,
		MaxStringLen: math.MaxInt, MaxDecodedSize: math.MaxInt}
	for _, claim := range [][]byte{mp(0xdf, max32), mp(0xdd, max32), mp(0xdb, max32), mp(0xc6, max32)} {
		content := frameOf(mp(0x81, "a", 0x92, claim, 1))
		var derr, serr error
		grew := heapGrowth(func() {
			for range 10 {
				_, derr = lifted.DecodeFrame(content)
				_, serr = lifted.Split(content)
			}
		})
		assert.Less(t, grew, uint64(64<<10))
		assert.ErrorIs(t, derr, ErrBadMsgpack)
		assert.ErrorIs(t, serr, ErrBadMsgpack)
	}
}

// TestDecodedSizeEstimate keeps the estimate honest: for each shape, what
// DecodeFrame really allocates is close to, and not much over, the estimate.
func TestDecodedSizeEstimate(t *testing.T) {
	shapes := map[string][]byte{
		"empty maps":      mp(0x81, "a", arrayOf(20000, []byte{0x80})),
		"1-entry maps":    mp(0x81, "a", arrayOf(20000, mp(0x81, "", 0))),
		"8-entry maps":    mp(0x81, "a", arrayOf(5000, mp(0x88, "a", 0, "b", 0, "c", 0, "d", 0, "e", 0, "f", 0, "g", 0, "h", 0))),
		"9-entry maps":    mp(0x81, "a", arrayOf(5000, mp(0x89, "a", 0, "b", 0, "c", 0, "d", 0, "e", 0, "f", 0, "g", 0, "h", 0, "i", 0))),
		"65-entry maps":   mp(0x81, "a", arrayOf(100, mapOf(65, []byte{0xc0}))),
		"200-entry maps":  mp(0x81, "a", arrayOf(100, mapOf(200, []byte{0xc0}))),
		"3000-entry map":  mp(0x81, "a", mapOf(3000, []byte{0xc0})),
		"10000-entry map": mp(0x81, "a", mapOf(10000, []byte{0xc0})),
		"nils":            mp(0x81, "a", arrayOf(100000, []byte{0xc0})),
		"empty arrays":    mp(0x81, "a", arrayOf(100000, []byte{0x90})),
		"uint16s":         mp(0x81, "a", arrayOf(100000, []byte{0xcd, 1, 0x2c})),
		"float32s":        mp(0x81, "a", arrayOf(40000, []byte{0xca, 1, 2, 3, 4})),
		"empty strs":      mp(0x81, "a", arrayOf(100000, mp(""))),
		"1-byte strs":     mp(0x81, "a", arrayOf(100000, mp("x"))),
		"20-byte strs":    mp(0x81, "a", arrayOf(30000, mp(strings.Repeat("x", 20)))),
		"empty bins":      mp(0x81, "a", arrayOf(100000, []byte{0xc4, 0})),
		"timestamps":      mp(0x81, "a", arrayOf(40000, []byte{0xd6, 0xff, 0, 0, 0, 1})),
		"types":           repeatedMap(DefaultMaxMapLen),
	}
	over := 1.1 // the most real may exceed the estimate by
	if raceEnabled {
		over = 1.5 // numbers are boxed in 16 bytes, and maps grow more
	}
	for name, raw := range shapes {
		t.Run(name, func(t *testing.T) {
			est := estimate(t, raw)
			content := frameOf(raw)
			lifted := Limits{MaxDecodedSize: math.MaxInt}
			var err error
			grew := heapGrowth(func() { _, err = lifted.DecodeFrame(content) })
			require.NoError(t, err)
			real := float64(grew) - float64(len(raw)) // less the base64 buffer
			t.Logf("raw %7d estimate %8d real %8.0f (%.2f)", len(raw), est, real, real/float64(est))
			assert.Less(t, real, over*float64(est))
			assert.Greater(t, real, 0.4*float64(est))
		})
	}
}

// TestEncodeLimits: Encode refuses what receivers with the default limits
// would drop.
func TestEncodeLimits(t *testing.T) {
	deep := any(1)
	for range DefaultMaxDepth - 1 {
		deep = []any{deep}
	}
	_, err := Encode(Payload{"a": deep})
	assert.NoError(t, err)
	_, err = Encode(Payload{"a": []any{deep}})
	assert.ErrorIs(t, err, ErrTooDeep)

	_, err = Encode(Payload{"a": make([]any, DefaultMaxArrayLen)})
	assert.NoError(t, err)
	_, err = Encode(Payload{"a": make([]any, DefaultMaxArrayLen+1)})
	var le *LimitError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "MaxArrayLen", le.Limit)

	maps := make([]map[string]any, 70000)
	for i := range maps {
		maps[i] = map[string]any{}
	}
	_, err = Encode(Payload{"a": maps})
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "MaxDecodedSize", le.Limit)

	_, err = Encode(Payload{"a": make([]byte, DefaultMaxFrameLen)})
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "MaxFrameLen", le.Limit)
}
