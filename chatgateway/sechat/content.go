package sechat

import (
	"html"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// What a message's socket content can stand in for. The plain source costs
// one GET per message per node; the event's content is already here. It is
// rendered HTML, escaped, and cut short ('partial') for long messages, so
// it is taken only when nothing that matters can hide in what the
// rendering loses: contentText is what Read then returns, and needSource
// decides when the plain source must be fetched instead.

var (
	// brRE is a line break as SE renders it inside a multi-line message's
	// <div>: " <br> " (the spaces are SE's, not the author's).
	brRE = regexp.MustCompile(`(?i) ?<br\s*/?> ?`)
	// partialRE is a tag whose class says the content was cut short.
	partialRE = regexp.MustCompile(`(?i)<[a-z][^>]*\bclass\s*=\s*["']?[^"'>]*\bpartial\b`)
)

// contentText is a message's socket content converted to text: line breaks
// (<br>) become "\n" without the spaces SE puts around them, every other
// tag is removed with its attributes (a link keeps its text, not its URL;
// an image or onebox keeps only its text), entities are decoded, and
// U+200B and U+200C are removed, as from a plain source.
func contentText(content string) string {
	if strings.IndexByte(content, '<') >= 0 {
		content = brRE.ReplaceAllString(content, "\n")
		content = tagRE.ReplaceAllString(content, "")
	}
	if strings.IndexByte(content, '&') >= 0 {
		content = html.UnescapeString(content)
	}
	return stripZeroWidth(content)
}

// needSource reports whether a message's plain source must be fetched
// rather than its socket content converted by contentText: when there is no
// content, when it is cut short, when its text holds a control character
// (U+0002 and U+000F open frames and fragments; what SE's rendering does
// with them is not known), or when it starts like a frame or fragment
// might.
//
// The last test is loose on purpose: every text that messages.Classify
// calls a frame or fragment starts, after whitespace and U+200B, U+200C
// and CR, with "." followed by a line break; so does its content, however
// SE renders what follows (a <div> of lines, a <pre>, the control
// character dropped or kept). needSource fetches for any text whose first
// line, so trimmed, is a lone ".", so that it needs no knowledge of the
// rendering beyond keeping the first character. Person's messages that
// start so are rare; a lone "." costs one fetch.
func needSource(content *string) bool {
	if content == nil {
		return true
	}
	if strings.IndexByte(*content, '<') >= 0 && partialRE.MatchString(*content) {
		return true
	}
	text := contentText(*content)
	return hasControl(text) || dotLine(text)
}

// hasControl reports whether text holds a C0 control character other than
// tab and line feed, DEL, or an invalid encoding.
func hasControl(text string) bool {
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == '\t' || c == '\n':
		case c < 0x20 || c == 0x7f:
			return true
		case c >= utf8.RuneSelf:
			if r, n := utf8.DecodeRuneInString(text[i:]); r == utf8.RuneError && n == 1 {
				return true
			}
		}
	}
	return false
}

// dotLine reports whether text, after leading whitespace (as Python counts
// it) and U+200B and U+200C, starts with "." and nothing else on its line
// but blanks.
func dotLine(text string) bool {
	text = strings.TrimLeftFunc(text, skippable)
	rest, ok := strings.CutPrefix(text, ".")
	if !ok {
		return false
	}
	for _, r := range rest {
		switch {
		case r == '\n':
			return true
		case !skippable(r):
			return false
		}
	}
	return true
}

// skippable is what Classify skips around a frame's prefix, and then some:
// any whitespace, U+200B and U+200C.
func skippable(r rune) bool {
	return r == '\u200b' || r == '\u200c' || isPySpace(r)
}

// isPySpace is Python's str.isspace, which messages.Classify trims by:
// Go's unicode.IsSpace plus U+001C..U+001F.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}
