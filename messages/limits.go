package messages

import (
	"fmt"
	"math"
)

// The default limits: what a zero Limits field means. They sit far above
// what SmokeDetector or a Go node sends, and far below what would let one
// hostile chat message cost a receiver real memory or time.
const (
	// DefaultMaxFrameLen is the longest frame text, in bytes, that DecodeFrame
	// and Split accept and that Encode produces. A megabyte is far above
	// what any chat server posts, so it only bounds the work a hostile
	// message can cause.
	DefaultMaxFrameLen = 1 << 20
	// DefaultMaxDepth is how deeply containers may nest, counting the
	// payload map itself; SmokeDetector's payloads nest three or four deep.
	DefaultMaxDepth = 32
	// DefaultMaxMapLen is the most entries one map may hold, the payload
	// map included.
	DefaultMaxMapLen = 10_000
	// DefaultMaxArrayLen is the most elements one array may hold.
	DefaultMaxArrayLen = 100_000
	// DefaultMaxStringLen is the longest str or bin, map keys included, in
	// bytes.
	DefaultMaxStringLen = 1 << 20
	// DefaultMaxDecodedSize is the most memory, in bytes, that decoding one
	// frame into Go values may take, as estimated before decoding.
	DefaultMaxDecodedSize = 4 << 20
)

// MaxDepth is the absolute ceiling on nesting: a Limits.MaxDepth above it
// counts as MaxDepth, and Message.Decode, which has no Limits, walks data
// to this depth. It bounds recursion on hostile input.
const MaxDepth = 100

// Limits bound the work that decoding one frame may do. Every limit is
// checked by a walk over the msgpack that allocates nothing, before any
// value is decoded, by Split and DecodeFrame alike, so a frame that one accepts
// the other accepts too.
//
// A field that is zero (or negative) means its default. To lift a limit,
// set it to math.MaxInt; MaxDepth cannot go above the MaxDepth constant.
//
// A frame over MaxDepth fails with ErrTooDeep (which is also an
// ErrBadMsgpack); over any other limit, with ErrTooLarge. Either way the
// error is a *LimitError that names the limit.
type Limits struct {
	// MaxFrameLen is the longest frame text accepted, in bytes, counted on
	// the text as received (before stripping whitespace and zero-width
	// characters), so that it is checked before any other work. Defaults
	// to DefaultMaxFrameLen (1 MiB).
	MaxFrameLen int
	// MaxDepth is how deeply maps and arrays may nest, counting the payload
	// map itself as depth 1, so a type whose value is a scalar or an empty
	// container needs depth 2. Defaults to DefaultMaxDepth (32); at most
	// the MaxDepth constant (100).
	MaxDepth int
	// MaxMapLen is the most entries (key-value pairs, duplicates included)
	// that one map may hold; the payload map counts, so it also bounds the
	// types per frame. Defaults to DefaultMaxMapLen (10,000).
	MaxMapLen int
	// MaxArrayLen is the most elements one array may hold. Defaults to
	// DefaultMaxArrayLen (100,000).
	MaxArrayLen int
	// MaxStringLen is the longest str or bin value, and the longest map
	// key, in bytes. Defaults to DefaultMaxStringLen (1 MiB).
	MaxStringLen int
	// MaxDecodedSize bounds an estimate, in bytes, of what DecodeFrame (or a
	// handler decoding every type into interface values) would allocate
	// for the frame: string and bin bytes, 16 bytes for each interface
	// slot, the headers Go boxes strings, slices, numbers and times in,
	// and the tables of every map (which for many small maps dwarf the
	// frame: a frame of 700 KB can hold 700,000 empty maps). It is checked
	// before anything is decoded. Defaults to DefaultMaxDecodedSize (4 MiB).
	MaxDecodedSize int
}

// DefaultLimits returns every default spelled out: the limits that the
// zero Limits means, and that DecodeFrame and Split use. It is a function,
// not a variable, so that no importer can change what every other one gets;
// change a copy, and pass it where a Limits is taken.
func DefaultLimits() Limits {
	return Limits{
		MaxFrameLen:    DefaultMaxFrameLen,
		MaxDepth:       DefaultMaxDepth,
		MaxMapLen:      DefaultMaxMapLen,
		MaxArrayLen:    DefaultMaxArrayLen,
		MaxStringLen:   DefaultMaxStringLen,
		MaxDecodedSize: DefaultMaxDecodedSize,
	}
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func (l *Limits) maxFrameLen() int { return orDefault(l.MaxFrameLen, DefaultMaxFrameLen) }

// init readies w for the bounded walk that checks msgpack b with l. (Limits
// are passed, and walkers set up, in place: copying these structs whole
// costs more than the walk of a small frame.)
func (w *walker) init(b []byte, l *Limits) {
	w.b = b
	w.maxDepth = min(orDefault(l.MaxDepth, DefaultMaxDepth), MaxDepth)
	w.maxMap = orDefault(l.MaxMapLen, DefaultMaxMapLen)
	w.maxArray = orDefault(l.MaxArrayLen, DefaultMaxArrayLen)
	w.maxStr = orDefault(l.MaxStringLen, DefaultMaxStringLen)
	w.maxSize = orDefault(l.MaxDecodedSize, DefaultMaxDecodedSize)
	w.size = 0
}

// initCeiling readies w for data that has no Limits (Message.Decode's):
// only the MaxDepth ceiling applies, and readHead's checks that claims fit
// the bytes.
func (w *walker) initCeiling(b []byte) {
	w.b = b
	w.maxDepth = MaxDepth
	w.maxMap, w.maxArray, w.maxStr, w.maxSize = math.MaxInt, math.MaxInt, math.MaxInt, math.MaxInt
	w.size = 0
}

// LimitError reports that a frame went over one of its Limits. It wraps
// ErrTooDeep for MaxDepth and ErrTooLarge for every other limit, so
// errors.Is works on it; errors.As finds it for the detail.
type LimitError struct {
	// Limit is the Limits field that was exceeded, such as "MaxMapLen".
	Limit string
	// Got is what the frame holds: the depth, entries, elements or bytes.
	// For MaxDecodedSize it is the estimate when the walk stopped, which
	// is past Max but may be short of the whole frame's.
	Got int
	// Max is the limit in force.
	Max int
	// Offset is where in the frame's msgpack the walk stopped; -1 when the
	// limit is on the text (MaxFrameLen).
	Offset int
}

func (e *LimitError) Error() string {
	at := ""
	if e.Offset >= 0 {
		at = fmt.Sprintf(" at offset %d", e.Offset)
	}
	what := ""
	switch e.Limit {
	case "MaxFrameLen":
		what = fmt.Sprintf("%d bytes of text", e.Got)
	case "MaxDepth":
		what = fmt.Sprintf("nesting %d deep", e.Got)
	case "MaxMapLen":
		what = fmt.Sprintf("map of %d entries", e.Got)
	case "MaxArrayLen":
		what = fmt.Sprintf("array of %d elements", e.Got)
	case "MaxStringLen":
		what = fmt.Sprintf("string of %d bytes", e.Got)
	case "MaxDecodedSize":
		what = fmt.Sprintf("decoding would take over %d bytes", e.Got)
	default:
		what = fmt.Sprintf("%d", e.Got)
	}
	return fmt.Sprintf("%v: %s%s, over %s %d", e.Unwrap(), what, at, e.Limit, e.Max)
}

// Unwrap returns ErrTooDeep or ErrTooLarge.
func (e *LimitError) Unwrap() error {
	if e.Limit == "MaxDepth" {
		return ErrTooDeep
	}
	return ErrTooLarge
}
