package messages

import (
	"encoding"
	"math"
	"reflect"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/tagparser/v2"
)

// TypedDecoder decodes a message type's data into a T with Message.Decode's
// rules and results, faster: when it is made it works out, once, which key
// goes to which field of T, and it then decodes the common case itself, a
// struct of strings, bools and numbers from a msgpack map, without
// reflection and with no allocation but the strings'. Anything else (a
// field of another type, a value that needs a conversion, data that
// Message.Decode rejects) it hands to Message.Decode, so the two never
// differ. It is safe for concurrent use.
type TypedDecoder[T any] struct{ plan *structPlan }

// NewTypedDecoder returns the decoder for T.
func NewTypedDecoder[T any]() *TypedDecoder[T] {
	return &TypedDecoder[T]{plan: planFor(reflect.TypeFor[T]())}
}

// Decode decodes m's data into v, as m.Decode(v) would.
func (d *TypedDecoder[T]) Decode(m Message, v *T) error {
	if d.plan != nil {
		// Into a copy, so that data the fast path gives up on halfway
		// leaves v as Message.Decode would.
		tmp := *v
		if d.plan.decode(m.Data, unsafe.Pointer(&tmp)) {
			*v = tmp
			return nil
		}
	}
	// A copy on the heap, so that v itself does not escape on the fast
	// path.
	p := new(T)
	*p = *v
	err := m.Decode(p)
	*v = *p
	return err
}

// structPlan is how to decode a msgpack map into a struct type.
type structPlan struct {
	fields []planField
}

type planField struct {
	name   string
	offset uintptr
	kind   reflect.Kind
}

// Exactly these types have a fast path: predeclared, so they have no
// methods that vmihailenco/msgpack would call instead.
var plainTypes = map[reflect.Type]bool{}

func init() {
	for _, t := range []reflect.Type{
		reflect.TypeFor[string](), reflect.TypeFor[bool](),
		reflect.TypeFor[int](), reflect.TypeFor[int8](), reflect.TypeFor[int16](), reflect.TypeFor[int32](), reflect.TypeFor[int64](),
		reflect.TypeFor[uint](), reflect.TypeFor[uint8](), reflect.TypeFor[uint16](), reflect.TypeFor[uint32](), reflect.TypeFor[uint64](),
		reflect.TypeFor[float32](), reflect.TypeFor[float64](),
	} {
		plainTypes[t] = true
	}
}

var decodeHooks = []reflect.Type{
	reflect.TypeFor[msgpack.CustomDecoder](), reflect.TypeFor[msgpack.Unmarshaler](),
	reflect.TypeFor[encoding.BinaryUnmarshaler](), reflect.TypeFor[encoding.TextUnmarshaler](),
}

// planFor returns t's plan, or nil if t needs vmihailenco/msgpack. The key
// of each field follows vmihailenco/msgpack's getFields with the "json"
// fallback tag that unmarshal sets: the `msgpack` tag's name, else the
// `json` tag's, else the field's name; "-" skips the field, and so does
// being unexported. Any tag option but omitempty (which only encoding
// reads), and any embedded field, leaves the type to vmihailenco/msgpack.
func planFor(t reflect.Type) *structPlan {
	if t.Kind() != reflect.Struct {
		return nil
	}
	for _, hook := range decodeHooks {
		if t.Implements(hook) || reflect.PointerTo(t).Implements(hook) {
			return nil
		}
	}
	p := &structPlan{}
	seen := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "_msgpack" || f.Anonymous {
			return nil
		}
		tagStr := f.Tag.Get("msgpack")
		if tagStr == "" {
			tagStr = f.Tag.Get("json")
		}
		tag := tagparser.Parse(tagStr)
		if tag.Name == "-" || !f.IsExported() {
			continue
		}
		for opt := range tag.Options {
			if opt != "omitempty" {
				return nil
			}
		}
		name := tag.Name
		if name == "" {
			name = f.Name
		}
		if !plainTypes[f.Type] || seen[name] {
			return nil
		}
		seen[name] = true
		p.fields = append(p.fields, planField{name: name, offset: f.Offset, kind: f.Type.Kind()})
	}
	return p
}

// decode decodes the msgpack map b into the struct at base, and reports
// whether it could. It checks b as unmarshal's walk does (the same walker,
// with the same ceiling, in the same order; for a value that a field takes,
// the walk is one readHead, which set makes), so it succeeds only on data
// that Message.Decode accepts, and it then sets the fields Message.Decode
// would set, to the same values, in the same order.
func (p *structPlan) decode(b []byte, base unsafe.Pointer) bool {
	var w walker
	w.initCeiling(b)
	h, off, err := readHead(b, 0)
	if err != nil || h.kind != kMap || w.container(h, 0, 1) != nil {
		return false
	}
	for range h.n {
		k, next, err := w.key(off)
		if err != nil {
			return false
		}
		f := p.field(k)
		if f == nil {
			if off, err = w.skip(next, 2); err != nil {
				return false
			}
			continue
		}
		var ok bool
		if off, ok = f.set(b, next, base); !ok {
			return false
		}
	}
	return off == len(b)
}

func (p *structPlan) field(key []byte) *planField {
	for i := range p.fields {
		if p.fields[i].name == string(key) {
			return &p.fields[i]
		}
	}
	return nil
}

// set decodes the value at b[off:] into f, if it is valid and of the
// msgpack kind that f's type takes as it is, and returns the offset past
// it; it reports false for anything else, such as a value that
// vmihailenco/msgpack would convert. Every kind it takes is a scalar, which
// one readHead checks as fully as the walker's skip (under the ceiling, a
// scalar's charge never fails).
func (f *planField) set(b []byte, off int, base unsafe.Pointer) (int, bool) {
	h, next, err := readHead(b, off)
	if err != nil {
		return 0, false
	}
	if h.kind == kStr {
		next += h.n
	}
	return next, f.store(h, b[:next], base)
}

// store writes h's value (a str's bytes end b) into f.
func (f *planField) store(h head, b []byte, base unsafe.Pointer) bool {
	ptr := unsafe.Add(base, f.offset)
	switch f.kind {
	case reflect.String:
		if h.kind != kStr {
			return false
		}
		*(*string)(ptr) = string(b[len(b)-h.n:])
		return true
	case reflect.Bool:
		if h.kind != kBool {
			return false
		}
		*(*bool)(ptr) = h.u == 1
		return true
	case reflect.Float64:
		switch h.kind {
		case kFloat64:
			*(*float64)(ptr) = math.Float64frombits(h.u)
		case kFloat32:
			*(*float64)(ptr) = float64(math.Float32frombits(uint32(h.u)))
		default:
			return false
		}
		return true
	case reflect.Float32:
		if h.kind != kFloat32 {
			return false
		}
		*(*float32)(ptr) = math.Float32frombits(uint32(h.u))
		return true
	}
	// An integer: one that fits the field is set as it is; one that does
	// not, vmihailenco/msgpack truncates or wraps, which is left to it.
	var n int64
	switch {
	case h.kind == kInt:
		n = int64(h.u)
	case h.kind == kUint && h.u <= math.MaxInt64:
		n = int64(h.u)
	default:
		return false
	}
	// A switch, not a table of functions: an indirect call would make the
	// caller's value escape to the heap.
	switch f.kind {
	case reflect.Int:
		return setInt[int](ptr, n)
	case reflect.Int8:
		return setInt[int8](ptr, n)
	case reflect.Int16:
		return setInt[int16](ptr, n)
	case reflect.Int32:
		return setInt[int32](ptr, n)
	case reflect.Int64:
		return setInt[int64](ptr, n)
	case reflect.Uint:
		return setInt[uint](ptr, n)
	case reflect.Uint8:
		return setInt[uint8](ptr, n)
	case reflect.Uint16:
		return setInt[uint16](ptr, n)
	case reflect.Uint32:
		return setInt[uint32](ptr, n)
	case reflect.Uint64:
		return setInt[uint64](ptr, n)
	}
	return false
}

// setInt stores n at ptr as a T if a T holds it exactly (neither truncated
// nor wrapped), and reports whether it did.
func setInt[T int | int8 | int16 | int32 | int64 | uint | uint8 | uint16 | uint32 | uint64](ptr unsafe.Pointer, n int64) bool {
	v := T(n)
	if int64(v) != n || (v < 0) != (n < 0) {
		return false
	}
	*(*T)(ptr) = v
	return true
}
