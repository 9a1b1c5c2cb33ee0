package messages

import (
	"encoding/base64"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// frameOf wraps raw msgpack as a frame, as SmokeDetector would.
func frameOf(raw []byte) string {
	return FramePrefix + "4242" + base64.StdEncoding.EncodeToString(raw) + "\x03"
}

// mp concatenates msgpack pieces: a string is written as a str, a byte or
// []byte as is.
func mp(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			if len(p) < 32 {
				b = append(b, 0xa0|byte(len(p)))
			} else {
				b = append(b, 0xd9, byte(len(p)))
			}
			b = append(b, p...)
		case byte:
			b = append(b, p)
		case int:
			b = append(b, byte(p))
		case rune:
			b = append(b, byte(p))
		case []byte:
			b = append(b, p...)
		default:
			panic(p)
		}
	}
	return b
}

// sentinels are every error the codec returns; each error must wrap one.
var sentinels = []error{ErrNotFrame, ErrBadBase64, ErrBadMsgpack, ErrNotMap,
	ErrNonStringKey, ErrTooLarge, ErrBadEnvelope, ErrReservedKey, ErrEmptyType,
	ErrTooDeep, ErrEmptySecret, ErrUnsigned, ErrBadSignature,
	ErrBadFragment, ErrFragmentConflict, ErrFragmentLimit}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func TestSentinelMessages(t *testing.T) {
	for _, err := range sentinels {
		assert.True(t, strings.HasPrefix(err.Error(), "messages: "), err.Error())
	}
}

func nested(depth int) []byte {
	// {"a": [[[...]]]} with depth containers in all, the map included.
	b := mp(0x81, "a")
	for range depth - 1 {
		b = append(b, 0x91)
	}
	return append(b, 0x01)
}

func TestDecodeErrors(t *testing.T) {
	ok := frameOf(mp(0x81, "a", 1))
	tests := []struct {
		name    string
		content string
		want    error // nil: both DecodeFrame and Split succeed
	}{
		{"ok", ok, nil},
		{"empty", "", ErrNotFrame},
		{"chat text", "coffee for everyone", ErrNotFrame},
		{"prefix only", FramePrefix, ErrNotFrame},
		{"no ETX", strings.TrimSuffix(ok, "\x03"), ErrNotFrame},
		{"text after ETX", ok + "x", ErrNotFrame},
		{"no newline", ".\x024242gaFhAQ==\x03", ErrNotFrame},
		{"id not digits", FramePrefix + "42a2gaFhAQ==\x03", ErrNotFrame},
		{"id too short", FramePrefix + "42\x03", ErrNotFrame},
		{"empty body", FramePrefix + "4242\x03", ErrBadMsgpack},
		{"bad base64 char", FramePrefix + "4242gaF!AQ==\x03", ErrBadBase64},
		{"missing padding", FramePrefix + "4242gaFhAQ\x03", ErrBadBase64},
		{"base64 with space", FramePrefix + "4242gaFh AQ==\x03", ErrBadBase64},
		{"truncated map", frameOf(mp(0x82, "a", 1)), ErrBadMsgpack},
		{"truncated str", frameOf(mp(0x81, 0xa3, 'a')), ErrBadMsgpack},
		{"truncated uint32", frameOf(mp(0x81, "a", 0xce, 0, 0)), ErrBadMsgpack},
		{"trailing bytes", frameOf(mp(0x81, "a", 1, 0xc0)), ErrBadMsgpack},
		{"code 0xc1", frameOf(mp(0x81, "a", 0xc1)), ErrBadMsgpack},
		{"str not UTF-8", frameOf(mp(0x81, "a", 0xa2, 0xff, 0xfe)), ErrBadMsgpack},
		{"key not UTF-8", frameOf(mp(0x81, 0xa1, 0xff, 1)), ErrBadMsgpack},
		{"ext type 5", frameOf(mp(0x81, "a", 0xd4, 5, 0)), ErrBadMsgpack},
		{"timestamp bad length", frameOf(mp(0x81, "a", 0xd5, 0xff, 0, 0)), ErrBadMsgpack},
		{"timestamp bad nsec", frameOf(mp(0x81, "a", 0xc7, 12, 0xff, 0xff, 0xff, 0xff, 0xff, make([]byte, 8))), ErrBadMsgpack},
		{"depth 32", frameOf(nested(DefaultMaxDepth)), nil},
		{"depth 33", frameOf(nested(DefaultMaxDepth + 1)), ErrTooDeep},
		{"depth 33 is bad msgpack", frameOf(nested(DefaultMaxDepth + 1)), ErrBadMsgpack},
		{"depth 101", frameOf(nested(MaxDepth + 1)), ErrBadMsgpack},
		{"array", frameOf(mp(0x91, 1)), ErrNotMap},
		{"int", frameOf(mp(1)), ErrNotMap},
		{"nil", frameOf(mp(0xc0)), ErrNotMap},
		{"str", frameOf(mp("ping")), ErrNotMap},
		{"int key", frameOf(mp(0x81, 1, 2)), ErrNonStringKey},
		{"bin key", frameOf(mp(0x81, 0xc4, 1, 'a', 2)), ErrNonStringKey},
		{"nested int key", frameOf(mp(0x81, "a", 0x81, 1, 2)), ErrNonStringKey},
		{"key in array", frameOf(mp(0x81, "a", 0x91, 0x81, 0xc0, 2)), ErrNonStringKey},
		{"empty type", frameOf(mp(0x81, "", 1)), ErrEmptyType},
		{"empty nested key ok", frameOf(mp(0x81, "a", 0x81, "", 1)), nil},
		{"too large", FramePrefix + "4242" + strings.Repeat("A", DefaultMaxFrameLen) + "\x03", ErrTooLarge},
		{"too large not a frame", strings.Repeat(" ", DefaultMaxFrameLen+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := DecodeFrame(tt.content)
			f, serr := Split(tt.content)
			if tt.want == nil {
				require.NoError(t, err)
				require.NoError(t, serr)
				assert.Len(t, f.Types, len(p))
				return
			}
			assert.ErrorIs(t, err, tt.want)
			assert.ErrorIs(t, serr, tt.want)
			assert.Nil(t, p)
			assert.Nil(t, f.Types)
			assert.True(t, strings.HasPrefix(err.Error(), "messages: "), err.Error())
		})
	}
}

func TestLimits(t *testing.T) {
	content, err := Encode(Payload{"blob": make([]byte, 1000)})
	require.NoError(t, err)
	small := Limits{MaxFrameLen: 100}
	_, err = small.Split(content)
	assert.ErrorIs(t, err, ErrTooLarge)
	_, err = small.DecodeFrame(content)
	assert.ErrorIs(t, err, ErrTooLarge)
	_, err = Limits{MaxFrameLen: len(content)}.Split(content)
	assert.NoError(t, err)
	_, err = Limits{}.Split(content) // zero means the default
	assert.NoError(t, err)

	// The limit is checked before any decoding: a 4 MB message costs
	// next to nothing.
	huge := FramePrefix + "4242" + strings.Repeat("gA==", 1<<20) + "\x03"
	grew := heapGrowth(func() {
		_, err = Split(huge)
		_, err2 := DecodeFrame(huge)
		assert.ErrorIs(t, err2, ErrTooLarge)
	})
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.Less(t, grew, uint64(64<<10))
}

func TestStripping(t *testing.T) {
	raw := mp(0x81, "beverage", 0x81, "type", "coffee")
	ok := frameOf(raw)
	body := ok[7 : len(ok)-1]
	variants := map[string]string{
		"spaces":             "  " + ok + "  ",
		"newlines and tabs":  "\n\t" + ok + "\r\n",
		"python-only spaces": "\x1c\x1d" + ok + "\x1e\x1f",
		"unicode spaces":     "\u00a0\u3000" + ok + "\u2028\u0085",
		"ZWSP in body":       FramePrefix + "4242" + body[:5] + "\u200b" + body[5:] + "\x03",
		"ZWNJ in body":       FramePrefix + "4242" + body[:5] + "\u200c" + body[5:9] + "\u200b\u200c" + body[9:] + "\x03",
		"ZW in prefix":       ".\u200b\n\u200c\x0242\u200b42" + body + "\u200b\x03\u200b",
		"ZW before spaces":   "\u200b " + ok + " \u200c",
		"newlines in body":   FramePrefix + "4242" + body[:4] + "\r\n" + body[4:] + "\x03",
	}
	for name, content := range variants {
		t.Run(name, func(t *testing.T) {
			p, err := DecodeFrame(content)
			require.NoError(t, err)
			assert.Equal(t, Payload{"beverage": map[string]any{"type": "coffee"}}, p)
			f, err := Split(content)
			require.NoError(t, err)
			require.Len(t, f.Types, 1)
			assert.Equal(t, "beverage", f.Types[0].Type)
		})
	}
	// Other zero-width characters, and characters that merely share
	// U+200B's lead bytes, are not removed.
	for _, junk := range []string{"\u200d", "\u2009x", "\u2060", "\u200a"} {
		_, err := DecodeFrame(FramePrefix + "4242" + body[:4] + junk + body[4:] + "\x03")
		assert.Error(t, err, "%q", junk)
	}
	assert.False(t, hasZeroWidth(ok))
	assert.False(t, hasZeroWidth("\xe2\x80"))
	assert.True(t, hasZeroWidth("x\xe2\x80\x8c"))
}

// heapGrowth reports the bytes allocated while fn runs.
func heapGrowth(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestHugeHeaders(t *testing.T) {
	max32 := []byte{0xff, 0xff, 0xff, 0xff}
	claims := map[string][]byte{
		"map32":   mp(0xdf, max32),
		"array32": mp(0xdd, max32),
		"str32":   mp(0xdb, max32),
		"bin32":   mp(0xc6, max32),
		"ext32":   mp(0xc9, max32, 0xff),
		"map16":   mp(0xde, 0xff, 0xff),
		"array16": mp(0xdc, 0xff, 0xff),
		"str16":   mp(0xda, 0xff, 0xff),
	}
	for name, claim := range claims {
		// At the top, as a type's value, and deep inside one.
		for where, raw := range map[string][]byte{
			"top":    claim,
			"value":  mp(0x81, "a", claim, "some more bytes"),
			"nested": mp(0x81, "a", 0x92, 0x81, "b", claim, 1),
		} {
			t.Run(name+"/"+where, func(t *testing.T) {
				content := frameOf(raw)
				var derr, serr, uerr error
				grew := heapGrowth(func() {
					for range 10 {
						_, derr = DecodeFrame(content)
						_, serr = Split(content)
						var v any
						uerr = unmarshal(claim, &v)
						var s []any
						_ = unmarshal(claim, &s)
						var m map[string]any
						_ = unmarshal(claim, &m)
					}
				})
				assert.Less(t, grew, uint64(1<<20), "heap grew %d bytes", grew)
				// Even at the top, where a non-map would be ErrNotMap, the
				// claim is found too long first.
				assert.ErrorIs(t, derr, ErrBadMsgpack)
				assert.ErrorIs(t, serr, ErrBadMsgpack)
				assert.ErrorIs(t, uerr, ErrBadMsgpack)
			})
		}
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	envs := []Envelope{
		{Node: "ny-1", Incarnation: 0x1234_5678_9abc_def0, Seq: 42, Time: 1700000000123},
		{},
		{Node: "n", Incarnation: math.MaxUint64, Seq: 1, Time: -1},
		{Node: strings.Repeat("n", 300), Seq: math.MaxUint64, Time: math.MinInt64},
		{Node: "é☕", Seq: 1 << 40, Time: math.MaxInt64},
	}
	p := Payload{"beverage": map[string]any{"beverage_type": "coffee", "message_id": 44402065}, "ping": 1}
	for _, env := range envs {
		content, err := EncodeFrame(p, &env)
		require.NoError(t, err)
		f, err := Split(content)
		require.NoError(t, err)
		require.NotNil(t, f.Envelope)
		assert.Equal(t, env, *f.Envelope)
		require.Len(t, f.Types, 2)
		assert.Equal(t, "beverage", f.Types[0].Type)
		assert.Equal(t, "ping", f.Types[1].Type)

		// DecodeFrame sees the envelope as a plain map, as SmokeDetector would.
		got, err := DecodeFrame(content)
		require.NoError(t, err)
		assert.Contains(t, got, EnvelopeKey)
		delete(got, EnvelopeKey)
		assert.Equal(t, canon(p), canon(got))
	}

	// Without an envelope there is no key and no Envelope.
	content, err := Encode(p)
	require.NoError(t, err)
	f, err := Split(content)
	require.NoError(t, err)
	assert.Nil(t, f.Envelope)
	got, err := DecodeFrame(content)
	require.NoError(t, err)
	assert.NotContains(t, got, EnvelopeKey)
}

// Version 2 envelopes: arrays, fields in order, later fields ignored.
func TestEnvelopeV2Decoding(t *testing.T) {
	for name, tt := range map[string]struct {
		env  []byte
		want *Envelope // nil: ErrBadEnvelope
	}{
		"fields":          {mp(0x95, 2, "a", 7, 5, 0xcd, 1, 0), &Envelope{Node: "a", Incarnation: 7, Seq: 5, Time: 256}},
		"signed":          {mp(0x96, 2, "a", 7, 5, 0xff, 0xc4, 2, 9, 9), &Envelope{Node: "a", Incarnation: 7, Seq: 5, Time: -1, Sig: []byte{9, 9}}},
		"later fields":    {mp(0x98, 2, "a", 1, 2, 3, 0xc4, 0, 0x81, "q", 0xc0, "z"), &Envelope{Node: "a", Incarnation: 1, Seq: 2, Time: 3}},
		"version 3":       {mp(0x95, 3, "a", 1, 2, 3), nil},
		"version str":     {mp(0x95, "2", "a", 1, 2, 3), nil},
		"too few fields":  {mp(0x94, 2, "a", 1, 2), nil},
		"node int":        {mp(0x95, 2, 1, 1, 2, 3), nil},
		"incarnation neg": {mp(0x95, 2, "a", 0xff, 2, 3), nil},
		"seq float":       {mp(0x95, 2, "a", 1, 0xca, 0, 0, 0, 0, 3), nil},
		"time too big":    {mp(0x95, 2, "a", 1, 2, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), nil},
		"sig str":         {mp(0x96, 2, "a", 1, 2, 3, "sig"), nil},
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

// Version 1 envelopes, from older nodes: maps.
func TestEnvelopeDecoding(t *testing.T) {
	tests := []struct {
		name string
		env  []byte
		want *Envelope // nil: ErrBadEnvelope
	}{
		{"empty map", mp(0x80), &Envelope{}},
		{"unknown keys ignored", mp(0x85, "z", 0x92, 1, 0x81, "q", 0xc0, "n", "a", "s", 0xd0, 5, "t", 0xcd, 1, 0, "v", 0xcb, make([]byte, 8)),
			&Envelope{Node: "a", Seq: 5, Time: 256}},
		{"negative time", mp(0x81, "t", 0xff), &Envelope{Time: -1}},
		{"last duplicate wins", mp(0x82, "s", 1, "s", 2), &Envelope{Seq: 2}},
		{"not a map", mp(1), nil},
		{"nil", mp(0xc0), nil},
		{"empty array", mp(0x90), nil},
		{"node int", mp(0x81, "n", 1), nil},
		{"node bin", mp(0x81, "n", 0xc4, 1, 'a'), nil},
		{"seq negative", mp(0x81, "s", 0xff), nil},
		{"seq float", mp(0x81, "s", 0xca, 0, 0, 0, 0), nil},
		{"seq str", mp(0x81, "s", "1"), nil},
		{"time too big", mp(0x81, "t", 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), nil},
		{"time nil", mp(0x81, "t", 0xc0), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := frameOf(mp(0x82, "a", 1, EnvelopeKey, tt.env))
			f, err := Split(content)
			// DecodeFrame does not look inside the envelope.
			p, derr := DecodeFrame(content)
			require.NoError(t, derr)
			assert.Contains(t, p, EnvelopeKey)
			if tt.want == nil {
				assert.ErrorIs(t, err, ErrBadEnvelope)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, f.Envelope)
			assert.Equal(t, []RawType{{Type: "a", Data: msgpack.RawMessage{1}}}, f.Types)
		})
	}
}

func TestSplitDuplicates(t *testing.T) {
	// Like a Python dict: the first place, the last value.
	content := frameOf(mp(0x83, "a", 1, "b", 2, "a", 3))
	f, err := Split(content)
	require.NoError(t, err)
	assert.Equal(t, []RawType{{"a", msgpack.RawMessage{3}}, {"b", msgpack.RawMessage{2}}}, f.Types)
	p, err := DecodeFrame(content)
	require.NoError(t, err)
	assert.Equal(t, Payload{"a": int64(3), "b": int64(2)}, p)

	// Past linearTypes, duplicates are found with a map.
	raw := mp(0xde, 0, 60)
	for i := range 60 {
		raw = append(raw, mp(string(rune('A'+i%30)), i)...)
	}
	f, err = Split(frameOf(raw))
	require.NoError(t, err)
	require.Len(t, f.Types, 30)
	for i, rt := range f.Types {
		assert.Equal(t, string(rune('A'+i)), rt.Type)
		assert.Equal(t, msgpack.RawMessage{byte(30 + i)}, rt.Data)
	}
}

func TestSplitAllocs(t *testing.T) {
	content, err := EncodeFrame(Payload{"beverage": map[string]any{"beverage_type": "coffee"}, "ping": 1},
		&Envelope{Node: "n1", Seq: 7, Time: 1})
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Split(content); err != nil {
			t.Fatal(err)
		}
	})
	// The buffer, the Types slice, the Envelope and its node id (a copy,
	// so that what receivers remember of a sender never pins its frame).
	assert.LessOrEqual(t, allocs, 4.0)
}

type jsonTagged struct {
	MessageID    int64  `json:"message_id"`
	BeverageType string `json:"beverage_type,omitempty"`
	Ignored      string `json:"-"`
	Untagged     bool
}

type msgpackTagged struct {
	MessageID int64     `msgpack:"message_id" json:"wrong"`
	Kind      string    `msgpack:"beverage_type"`
	When      time.Time `msgpack:"when"`
	Extra     any       `msgpack:"extra"`
}

func TestEncodeStructTags(t *testing.T) {
	when := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	content, err := Encode(Payload{
		"a": jsonTagged{MessageID: 1, BeverageType: "tea", Ignored: "x", Untagged: true},
		"b": &msgpackTagged{MessageID: 2, Kind: "coffee", When: when, Extra: []byte{1}},
	})
	require.NoError(t, err)
	p, err := DecodeFrame(content)
	require.NoError(t, err)
	assert.Equal(t, Payload{
		"a": map[string]any{"message_id": int64(1), "beverage_type": "tea", "Untagged": true},
		"b": map[string]any{"message_id": int64(2), "beverage_type": "coffee", "when": when, "extra": []byte{1}},
	}, p)
}

func TestEncodeWire(t *testing.T) {
	// Each value as Python's msgpack (use_bin_type=True) writes it.
	tests := []struct {
		v    any
		want []byte
	}{
		{1, []byte{0x01}},
		{int64(-1), []byte{0xff}},
		{int8(-33), []byte{0xd0, 0xdf}},
		{int64(200), []byte{0xcc, 200}},
		{uint16(70), []byte{70}},
		{int32(-200), []byte{0xd1, 0xff, 0x38}},
		{uint64(math.MaxUint64), []byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{1.0, []byte{0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}},
		{"", []byte{0xa0}},
		{strings.Repeat("x", 32), append([]byte{0xd9, 32}, strings.Repeat("x", 32)...)},
		{[]byte{7}, []byte{0xc4, 1, 7}},
		{true, []byte{0xc3}},
		{nil, []byte{0xc0}},
		{[]int{1}, []byte{0x91, 1}},
		{map[string]any{"b": 1, "a": 2}, mp(0x82, "a", 2, "b", 1)},
		{map[string]int{"b": 1}, mp(0x81, "b", 1)},
	}
	for _, tt := range tests {
		content, err := Encode(Payload{"k": tt.v})
		require.NoError(t, err, "%#v", tt.v)
		raw, _ := frameBytes(t, content)
		assert.Equal(t, mp(0x81, "k", tt.want), raw, "%#v", tt.v)
	}

	// Keys are sorted, the envelope's among them, so output is stable.
	p := Payload{"zeta": 1, "alpha": 2, "mid": map[string]any{"y": 1, "x": 2}}
	first, err := EncodeFrame(p, &Envelope{Node: "a"})
	require.NoError(t, err)
	for range 20 {
		again, err := EncodeFrame(p, &Envelope{Node: "a"})
		require.NoError(t, err)
		assert.Equal(t, first[7:], again[7:])
	}
	raw, _ := frameBytes(t, first)
	assert.Equal(t, mp(0x84, EnvelopeKey, 0x95, 2, "a", 0, 0, 0, "alpha", 2,
		"mid", 0x82, "x", 2, "y", 1, "zeta", 1), raw)
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		p    Payload
		want error
	}{
		{"reserved key", Payload{EnvelopeKey: 1}, ErrReservedKey},
		{"reserved key beside others", Payload{"a": 1, EnvelopeKey: map[string]any{"n": "x"}}, ErrReservedKey},
		{"empty type", Payload{"": 1}, ErrEmptyType},
		{"int keys", Payload{"a": map[int]string{1: "x"}}, ErrNonStringKey},
		{"any keys", Payload{"a": map[any]any{"x": 1, 2: 3}}, ErrNonStringKey},
		{"invalid UTF-8", Payload{"a": "\xff"}, ErrBadMsgpack},
		{"invalid UTF-8 type", Payload{"\xff": 1}, ErrBadMsgpack},
		{"too large", Payload{"a": make([]byte, DefaultMaxFrameLen*3/4)}, ErrTooLarge},
		{"bad raw", Payload{"a": msgpack.RawMessage{0x92, 1}}, ErrBadMsgpack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Encode(tt.p)
			assert.ErrorIs(t, err, tt.want)
			assert.Empty(t, s)
			assert.True(t, strings.HasPrefix(err.Error(), "messages: "), err.Error())
		})
	}
	_, err := Encode(Payload{"a": make(chan int)})
	assert.Error(t, err)
	// vmihailenco/msgpack v5.4.1 panics on this one (its issue #346).
	_, err = Encode(Payload{"a": reflect.ValueOf(new(int))})
	assert.ErrorContains(t, err, "panicked")
	_, err = EncodeFrame(Payload{"a": 1}, &Envelope{Node: "\xff"})
	assert.ErrorIs(t, err, ErrBadMsgpack)

	// Just under the limit is fine.
	n := (DefaultMaxFrameLen-frameOverhead)/4*3 - 16
	content, err := Encode(Payload{"a": make([]byte, n)})
	require.NoError(t, err)
	assert.LessOrEqual(t, len(content), DefaultMaxFrameLen)
	_, err = Split(content)
	assert.NoError(t, err)
}

func TestEncodeEmpty(t *testing.T) {
	for _, p := range []Payload{nil, {}} {
		content, err := Encode(p)
		require.NoError(t, err)
		assert.Equal(t, "gA==", content[7:len(content)-1])
	}
}

func TestEncodeForwardsRaw(t *testing.T) {
	// A RawType's Data can be sent on unchanged.
	v := loadVectors(t)[0]
	f, err := Split(v.Content)
	require.NoError(t, err)
	p := Payload{}
	for _, rt := range f.Types {
		p[rt.Type] = rt.Data
	}
	content, err := Encode(p)
	require.NoError(t, err)
	_, body := frameBytes(t, content)
	_, want := frameBytes(t, v.Content)
	assert.Equal(t, want, body)
}

func TestDecodeValueTypes(t *testing.T) {
	ts := mp(0xd7, 0xff, []byte{0, 0, 0, 4, 0x65, 0x5d, 0x6a, 0x80}) // 8-byte form: 1 ns
	raw := mp(0x8c,
		"fix", 5, "neg", 0xe0, "u8", 0xcc, 200, "i16", 0xd1, 0x80, 0,
		"f32", 0xca, 0x3f, 0xc0, 0, 0, "f64", 0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0,
		"bin", 0xc4, 0, "arr", 0x90, "map", 0x80, "ts", ts,
		"ts4", 0xd6, 0xff, 0, 0, 0, 1, "ts12", 0xc7, 12, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	p, err := DecodeFrame(frameOf(raw))
	require.NoError(t, err)
	assert.Equal(t, Payload{
		"fix": int64(5), "neg": int64(-32), "u8": uint64(200), "i16": int64(-32768),
		"f32": 1.5, "f64": 0.5, "bin": []byte{}, "arr": []any{}, "map": map[string]any{},
		"ts":   time.Unix(0x655d6a80, 1).UTC(),
		"ts4":  time.Unix(1, 0).UTC(),
		"ts12": time.Unix(-1, 0).UTC(),
	}, p)
}

func TestMessageDecode(t *testing.T) {
	v := loadVectors(t)[1] // seed example: beverage
	f, err := Split(v.Content)
	require.NoError(t, err)
	m := Message{Type: f.Types[0].Type, Data: f.Types[0].Data}

	var j jsonTagged
	require.NoError(t, m.Decode(&j))
	assert.Equal(t, jsonTagged{MessageID: 44402065, BeverageType: "coffee"}, j)

	var mt msgpackTagged
	require.NoError(t, m.Decode(&mt))
	assert.Equal(t, msgpackTagged{MessageID: 44402065, Kind: "coffee"}, mt)

	var loose any
	require.NoError(t, m.Decode(&loose))
	assert.Equal(t, map[string]any{"message_id": uint64(44402065), "beverage_type": "coffee"}, loose)

	var wrong []string
	err = m.Decode(&wrong)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"beverage"`)

	err = Message{Type: "x", Data: msgpack.RawMessage{0x92, 1}}.Decode(&loose)
	assert.ErrorIs(t, err, ErrBadMsgpack)
	err = Message{Type: "x", Data: msgpack.RawMessage{1, 2}}.Decode(&loose)
	assert.ErrorIs(t, err, ErrBadMsgpack)
	err = Message{Type: "x"}.Decode(&loose)
	assert.ErrorIs(t, err, ErrBadMsgpack)

	// vmihailenco/msgpack panics on nil for a time.Time; that is an error.
	content, err := Encode(Payload{"m": map[string]any{"when": nil}})
	require.NoError(t, err)
	f, err = Split(content)
	require.NoError(t, err)
	err = Message{Type: "m", Data: f.Types[0].Data}.Decode(&mt)
	assert.ErrorIs(t, err, ErrBadMsgpack)
	var ok msgpackTagged // and the pool still works
	require.NoError(t, Message{Type: "m", Data: f.Types[0].Data}.Decode(&struct{ When *time.Time }{}))
	require.NoError(t, m.Decode(&ok))
	assert.Equal(t, "coffee", ok.Kind)

	// A round trip through Encode with both tag styles.
	when := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	content, err = Encode(Payload{"m": msgpackTagged{MessageID: -3, Kind: "tea", When: when, Extra: "x"}})
	require.NoError(t, err)
	f, err = Split(content)
	require.NoError(t, err)
	var back msgpackTagged
	require.NoError(t, Message{Type: "m", Data: f.Types[0].Data}.Decode(&back))
	assert.True(t, when.Equal(back.When))
	back.When = when
	assert.Equal(t, msgpackTagged{MessageID: -3, Kind: "tea", When: when, Extra: "x"}, back)
}

// validUTF8 agrees with utf8.Valid wherever a bad or multi-byte sequence
// falls, across its eight-byte steps.
func TestValidUTF8(t *testing.T) {
	for n := range 20 {
		for i := range n + 1 {
			for _, ins := range []string{"é", "\xff", "\xe2\x80", "€"} {
				s := []byte(strings.Repeat("a", i) + ins + strings.Repeat("b", n-i))
				assert.Equal(t, utf8.Valid(s), validUTF8(s), "%q", s)
			}
		}
	}
}
