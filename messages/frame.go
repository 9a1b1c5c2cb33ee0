package messages

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// Payload is what one frame carries: each top-level key is a message type
// (such as "beverage") and its value is that type's data.
type Payload map[string]any

// FramePrefix starts every frame. The "." and newline make the post a
// multi-line message on Stack Exchange chat, which lifts the single-line
// length limit; U+0002 (STX) marks the start of the data.
const FramePrefix = ".\n\x02"

const (
	frameEnd = '\x03' // U+0003 (ETX) ends every frame
	idLen    = 4      // decimal digits of the random id after FramePrefix
	// frameOverhead is the length of a frame around its base64 body.
	frameOverhead = len(FramePrefix) + idLen + 1
)

// zeroWidth removes U+200B and U+200C, which chat servers insert into long
// runs of text to let them wrap (SmokeDetector removes them too), and CR,
// which a server may drop from a CR LF pair.
var zeroWidth = strings.NewReplacer("\u200b", "", "\u200c", "", "\r", "")

// hasZeroWidth reports whether s holds U+200B, U+200C or CR. A frame is
// ASCII, so one IndexByte scan for their lead byte usually settles it.
func hasZeroWidth(s string) bool {
	if strings.IndexByte(s, '\r') >= 0 {
		return true
	}
	for {
		i := strings.IndexByte(s, 0xe2)
		if i < 0 || len(s)-i < 3 {
			return false
		}
		if s[i+1] == 0x80 && (s[i+2] == 0x8b || s[i+2] == 0x8c) {
			return true
		}
		s = s[i+1:]
	}
}

// isPySpace is Python's str.isspace, which SmokeDetector's str.strip uses:
// Go's unicode.IsSpace plus U+001C..U+001F, which Python counts as
// separators.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// strip is the normalisation every receiver applies before it looks at a
// message: U+200B, U+200C and CR removed anywhere, then whitespace (as
// Python counts it) trimmed at both ends. It is a superset of what
// SmokeDetector does, so whatever SmokeDetector takes for a frame, so does
// Classify.
func strip(content string) string {
	if hasZeroWidth(content) {
		content = zeroWidth.Replace(content)
	}
	// Most text, every frame among it, has nothing to trim: ASCII that is
	// not space at both ends settles it without TrimFunc's rune decoding.
	if n := len(content); n > 0 && content[0] < utf8.RuneSelf && content[n-1] < utf8.RuneSelf &&
		!isPySpace(rune(content[0])) && !isPySpace(rune(content[n-1])) {
		return content
	}
	return strings.TrimFunc(content, isPySpace)
}

// Kind is what receivers make of a chat message's text.
type Kind int

const (
	// KindChat is plain chat: neither a frame nor a fragment.
	KindChat Kind = iota
	// KindFrame starts like a frame (FramePrefix) once normalised. It may
	// still fail to decode; receivers then drop it with a reason.
	KindFrame
	// KindFragment starts like a fragment (FragmentPrefix) once normalised.
	KindFragment
)

// Classify says what every receiver treats content as, after the
// normalisation they all apply (U+200B, U+200C and CR removed anywhere,
// Python whitespace trimmed at the ends): a frame, a fragment, or chat. It
// is the one decision both sides use: receivers route by it, and a node's
// Post refuses any text it does not call KindChat, so that no relay of
// strangers' words can be taken for a frame from the bot's own account. It
// reads only as far as the prefix, so it is cheap on every chat message.
func Classify(content string) Kind {
	i := 0
	for i < len(content) { // leading whitespace and zero-width characters
		r, n := utf8.DecodeRuneInString(content[i:])
		if !isPySpace(r) && r != '\u200b' && r != '\u200c' {
			break
		}
		i += n
	}
	// ".\n" then U+0002 or U+000F, with anything strip removes in between.
	want := FramePrefix[:len(FramePrefix)-1]
	for j := 0; ; {
		switch {
		case strings.HasPrefix(content[i:], "\u200b"), strings.HasPrefix(content[i:], "\u200c"):
			i += len("\u200b")
		case i < len(content) && content[i] == '\r':
			i++
		case j == len(want):
			switch {
			case i < len(content) && content[i] == FramePrefix[len(FramePrefix)-1]:
				return KindFrame
			case i < len(content) && content[i] == FragmentPrefix[len(FragmentPrefix)-1]:
				return KindFragment
			}
			return KindChat
		case i < len(content) && content[i] == want[j]:
			i++
			j++
		default:
			return KindChat
		}
	}
}

// frameBody checks content's framing and returns its base64 body.
//
// SmokeDetector only checks the prefix and decodes content[7:-1]. We also
// require the four ASCII digits and the closing U+0003, so that a message
// that merely starts like a frame (someone quoting one, or a fragment
// format of the future) is ErrNotFrame, not a decode failure.
func frameBody(content string, l *Limits) (string, error) {
	// Checked on the raw text so that an oversized message costs nothing,
	// not even the stripping.
	if max := l.maxFrameLen(); len(content) > max {
		return "", &LimitError{Limit: "MaxFrameLen", Got: len(content), Max: max, Offset: -1}
	}
	content = strip(content)
	if len(content) < frameOverhead || !strings.HasPrefix(content, FramePrefix) ||
		content[len(content)-1] != frameEnd {
		return "", ErrNotFrame
	}
	for i := len(FramePrefix); i < len(FramePrefix)+idLen; i++ {
		if c := content[i]; c < '0' || c > '9' {
			return "", fmt.Errorf("%w: id is not 4 digits", ErrNotFrame)
		}
	}
	return content[len(FramePrefix)+idLen : len(content)-1], nil
}

// buildFrame wraps msgpack bytes as frame text. The caller has checked the
// length against the limit.
func buildFrame(raw []byte) string {
	n := frameOverhead + base64.StdEncoding.EncodedLen(len(raw))
	out := make([]byte, n)
	copy(out, FramePrefix)
	// SmokeDetector sends random.randint(0, 9999) formatted as {:04}.
	id := rand.IntN(10000)
	for i := len(FramePrefix) + idLen - 1; i >= len(FramePrefix); i-- {
		out[i] = byte('0' + id%10)
		id /= 10
	}
	base64.StdEncoding.Encode(out[len(FramePrefix)+idLen:], raw)
	out[n-1] = frameEnd
	// out is never written again, so it can back the string directly, as
	// strings.Builder does; this saves copying the frame.
	return unsafe.String(&out[0], n)
}

// frameLen is the length of the frame that buildFrame makes from n bytes.
func frameLen(n int) int {
	return frameOverhead + base64.StdEncoding.EncodedLen(n)
}
