package messages

import (
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// plainStruct has a field of every type TypedDecoder decodes itself, named
// each way that vmihailenco/msgpack names fields.
type plainStruct struct {
	S      string `json:"s"`
	MP     string `msgpack:"mp" json:"ignored"`
	Name   string
	Omit   int64  `json:"o,omitempty"`
	Skip   string `json:"-"`
	hidden string
	B      bool    `json:"b"`
	I      int     `json:"i"`
	I8     int8    `json:"i8"`
	I16    int16   `json:"i16"`
	I32    int32   `json:"i32"`
	U      uint    `json:"u"`
	U8     uint8   `json:"u8"`
	U16    uint16  `json:"u16"`
	U32    uint32  `json:"u32"`
	U64    uint64  `json:"u64"`
	F32    float32 `json:"f32"`
	F64    float64 `json:"f64"`
}

// typedSeeds are maps that reach each of TypedDecoder's cases, and the
// conversions it leaves to vmihailenco/msgpack.
func typedSeeds() [][]byte {
	return [][]byte{
		mustMarshal(map[string]any{"s": "coffee", "mp": "x", "Name": "n", "o": 7, "b": true, "i": -5, "i8": -128, "i16": 300,
			"i32": 70000, "u": 9, "u8": 255, "u16": 65535, "u32": 1 << 31, "u64": uint64(math.MaxUint64), "f32": float32(1.5), "f64": 2.25}),
		mustMarshal(map[string]any{"i8": 300, "u8": -1, "f64": float32(0.1), "f32": 2.5, "s": 5, "b": nil, "extra": []any{1, map[string]any{"x": 1}}}),
		mustMarshal(map[string]any{"s": []byte("bin"), "Skip": "y", "hidden": "z", "ignored": "w", "u64": -1}),
		mp(0x82, "s", "a", "s", "b"),          // a key twice: the last wins
		mp(0x81, "s", 0xa2, 0xff, 0xfe),       // not UTF-8
		mp(0x81, 1, "s"),                      // not a string key
		mp(0x81, "s", "a", 0xc0),              // a byte after the map
		mp(0xc0),                              // nil
		mp(0x91, "a"),                         // an array
		mp(0x81, "x", 0xd6, 0xff, 0, 0, 0, 1), // a timestamp, skipped
		mp(0x81, "i", 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), // a uint64 that wraps
		mp(0x81, "i", 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0),                      // math.MinInt64
		{},
	}
}

func mustMarshal(v any) []byte {
	b, err := msgpack.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// checkTyped decodes data with a TypedDecoder and with Message.Decode, from
// the same non-zero start, and requires the same outcome.
func checkTyped[T any](t *testing.T, dec *TypedDecoder[T], data []byte, start T) {
	m := Message{Type: "t", Data: data}
	fast, slow := start, start
	errFast := dec.Decode(m, &fast)
	errSlow := m.Decode(&slow)
	if errSlow != nil {
		require.Error(t, errFast, "% x", data)
		assert.Equal(t, errSlow.Error(), errFast.Error())
	} else {
		require.NoError(t, errFast, "% x", data)
	}
	// Printed, so that NaN equals NaN.
	assert.Equal(t, fmt.Sprintf("%#v", slow), fmt.Sprintf("%#v", fast), "% x", data)
}

func TestTypedDecoderMatchesDecode(t *testing.T) {
	dec := NewTypedDecoder[plainStruct]()
	require.NotNil(t, dec.plan, "plainStruct has a fast path")
	start := plainStruct{S: "before", I: 1, Skip: "kept", hidden: "kept"}
	for _, data := range typedSeeds() {
		checkTyped(t, dec, data, start)
	}
	// Types without a fast path decode as Message.Decode does too.
	for _, data := range typedSeeds() {
		checkTyped(t, NewTypedDecoder[fuzzStruct](), data, fuzzStruct{A: 1})
		checkTyped(t, NewTypedDecoder[map[string]any](), data, nil)
		checkTyped(t, NewTypedDecoder[int](), data, 3)
	}
}

func TestTypedDecoderValues(t *testing.T) {
	var v plainStruct
	data := typedSeeds()[0]
	require.NoError(t, NewTypedDecoder[plainStruct]().Decode(Message{Data: data}, &v))
	assert.Equal(t, plainStruct{S: "coffee", MP: "x", Name: "n", Omit: 7, B: true, I: -5, I8: -128, I16: 300, I32: 70000,
		U: 9, U8: 255, U16: 65535, U32: 1 << 31, U64: math.MaxUint64, F32: 1.5, F64: 2.25}, v)
}

// The fast path allocates nothing but the strings it returns.
func TestTypedDecoderAllocs(t *testing.T) {
	dec := NewTypedDecoder[benchBeverage]()
	m := Message{Data: mustMarshal(map[string]any{"message_id": 1, "beverage_type": "coffee", "location": "here"})}
	allocs := testing.AllocsPerRun(100, func() {
		var v benchBeverage
		if err := dec.Decode(m, &v); err != nil || v.Location != "here" {
			t.Fatal(err, v)
		}
	})
	assert.LessOrEqual(t, allocs, 2.0)
}

type withHook struct{ S string }

func (*withHook) UnmarshalText([]byte) error { return nil }

type embedded struct {
	plainStruct
	X int
}

type aliased struct {
	S string `msgpack:"s,alias:t"`
}

type twice struct {
	A string `msgpack:"a"`
	B string `msgpack:"a"`
}

type named string

type withNamed struct{ N named }

type withTime struct{ T time.Time }

// Types whose decoding vmihailenco/msgpack decides with more than field
// names and kinds get no fast path.
func TestTypedDecoderLeavesTypes(t *testing.T) {
	for _, typ := range []reflect.Type{
		reflect.TypeFor[int](), reflect.TypeFor[*plainStruct](), reflect.TypeFor[map[string]any](),
		reflect.TypeFor[withHook](), reflect.TypeFor[embedded](), reflect.TypeFor[aliased](),
		reflect.TypeFor[twice](), reflect.TypeFor[withNamed](), reflect.TypeFor[withTime](),
	} {
		assert.Nil(t, planFor(typ), "%v", typ)
	}
}

func FuzzTypedDecode(f *testing.F) {
	for _, s := range typedSeeds() {
		f.Add(s)
	}
	dec := NewTypedDecoder[plainStruct]()
	start := plainStruct{S: "before", F64: 1, Skip: "kept", hidden: "kept"}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkTyped(t, dec, data, start)
	})
}

// One decoder serves goroutines at once (run with -race).
func TestTypedDecoderConcurrent(t *testing.T) {
	dec := NewTypedDecoder[plainStruct]()
	data := typedSeeds()[0]
	var want plainStruct
	require.NoError(t, Message{Data: data}.Decode(&want))
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for range 200 {
				var v plainStruct
				if err := dec.Decode(Message{Data: data}, &v); err != nil || v != want {
					errs <- fmt.Errorf("got %+v, %v", v, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
}
