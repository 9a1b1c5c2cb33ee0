package ircws

import (
	"hash/fnv"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/socketscience/socketscience/messages"
)

// IRC lines cannot carry a line break, but every SocketScience frame starts
// with ".\n\x02" and every fragment with ".\n\x0f". On IRC the adapter
// sends that newline as a space:
//
//	frame     ".\n\x02" + id + base64 + "\x03"  travels as  ". \x02" + id + base64 + "\x03"
//	fragment  ".\n\x0f" + header + " " + chunk  travels as  ". \x0f" + header + " " + chunk
//
// and in the first fragment, whose chunk begins with the frame's own
// ".\n\x02", that newline travels as a space too. On receipt a line that
// starts with ". \x02" or ". \x0f" gets its newlines back at exactly those
// places, so the gateway sees the frame or fragment as it was made. The
// mapping keeps lengths, so Limits.MaxMessageLen holds for both forms.
// Any other text with a CR or LF in it cannot be posted (ErrRejected),
// nor can plain text that is already in a wire form, which receivers
// would take for a frame (ErrWireForm).
const (
	wireFrame    = ". \x02"
	wireFragment = ". \x0f"
)

// toWire maps text to what one IRC line carries, or reports false when it
// cannot travel on one line, or when it is plain text that fromWire would
// change: text in a frame's or fragment's wire form (". \x02…", ". \x0f…",
// also behind what receivers strip first), or a fragment whose chunk
// starts with a frame's wire form. Receivers would read such text as a
// frame: refusing it keeps the mapping injective, so that a post passing
// the node's frame guard cannot turn into a frame on the way.
func toWire(text string) (string, bool) {
	head, rest := text[:lead(text)], text[lead(text):]
	switch {
	case strings.HasPrefix(rest, messages.FramePrefix):
		rest = wireFrame + rest[len(messages.FramePrefix):]
	case strings.HasPrefix(rest, messages.FragmentPrefix):
		body := rest[len(messages.FragmentPrefix):]
		if at := fragmentChunk(body); at >= 0 {
			switch {
			case strings.HasPrefix(body[at:], messages.FramePrefix):
				body = body[:at] + wireFrame + body[at+len(messages.FramePrefix):]
			case strings.HasPrefix(body[at:], wireFrame):
				return "", false
			}
		}
		rest = wireFragment + body
	case strings.HasPrefix(rest, wireFrame), strings.HasPrefix(rest, wireFragment):
		return "", false
	}
	text = head + rest
	if strings.ContainsAny(text, "\r\n\x00") {
		return "", false
	}
	return text, true
}

// fromWire undoes toWire.
func fromWire(text string) string {
	head, rest := text[:lead(text)], text[lead(text):]
	switch {
	case strings.HasPrefix(rest, wireFrame):
		return head + messages.FramePrefix + rest[len(wireFrame):]
	case strings.HasPrefix(rest, wireFragment):
		body := rest[len(wireFragment):]
		if at := fragmentChunk(body); at >= 0 && strings.HasPrefix(body[at:], wireFrame) {
			body = body[:at] + messages.FramePrefix + body[at+len(wireFrame):]
		}
		return head + messages.FragmentPrefix + body
	}
	return text
}

// lead is the length of what receivers strip before they look for a
// frame's or fragment's prefix (messages.Classify, which receivers and
// Post's guard share): whitespace as Python's str.isspace sees it (U+001C..U+001F
// included) and the zero-width U+200B and U+200C.
func lead(s string) int {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) && (r < 0x1c || r > 0x1f) && r != '\u200b' && r != '\u200c' {
			break
		}
		i += n
	}
	return i
}

// fragmentChunk is where the chunk starts in a fragment after its prefix
// ("id index/count chunk"): after the second space; -1 if there is none.
func fragmentChunk(s string) int {
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return -1
	}
	j := strings.IndexByte(s[i+1:], ' ')
	if j < 0 {
		return -1
	}
	return i + 1 + j + 1
}

// UserID is the chat user id the adapter gives a nick, for display and
// deduplication. IRC has no numeric account ids, so it is derived: the
// FNV-1a 64-bit hash of the nick lower-cased with the rfc1459 casemapping,
// with the sign bit cleared so that it is positive (0 becomes 1). It is
// not an identity: FNV is invertible, so another nick with the same
// UserID can be found with about 2^32 work. Trust compares Account
// strings instead (socketscience.WithTrustedAccounts, TrustedAccounts).
func UserID(nick string) int64 {
	h := fnv.New64a()
	h.Write([]byte(ircLower(nick)))
	id := int64(h.Sum64() &^ (1 << 63))
	if id == 0 {
		id = 1
	}
	return id
}

// FallbackNicks are the nicks Dial tries, in order, when nick is taken
// (numeric 433): nick_, nick2, nick3, …, n of them. Trust lists that must
// survive a nick collision can include their Accounts too
// (TrustedAccounts).
func FallbackNicks(nick string, n int) []string {
	out := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, fallbackNick(nick, i))
	}
	return out
}

func fallbackNick(nick string, attempt int) string {
	if attempt == 1 {
		return nick + "_"
	}
	return nick + strconv.Itoa(attempt)
}
