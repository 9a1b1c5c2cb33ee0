package messages

// DefaultMaxFrameLen is the longest frame text, in bytes, that Decode and
// Split accept and that Encode produces. A megabyte is far above what any
// chat server posts, so it only bounds the work a hostile message can cause.
const DefaultMaxFrameLen = 1 << 20

// MaxDepth is how deeply containers (maps and arrays, counting the payload
// map itself) may nest in a frame. It bounds recursion on hostile input;
// SmokeDetector's payloads nest three or four deep.
const MaxDepth = 100

// Limits bound the work that decoding one frame may do.
type Limits struct {
	// MaxFrameLen is the longest frame text accepted, in bytes, counted on
	// the text as received (before stripping whitespace and zero-width
	// characters), so that it is checked before any other work. Zero or
	// less means DefaultMaxFrameLen.
	MaxFrameLen int
}

// DefaultLimits are the limits Decode and Split use.
var DefaultLimits = Limits{MaxFrameLen: DefaultMaxFrameLen}

func (l Limits) maxFrameLen() int {
	if l.MaxFrameLen <= 0 {
		return DefaultMaxFrameLen
	}
	return l.MaxFrameLen
}
