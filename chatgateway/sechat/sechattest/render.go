package sechattest

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// escaper escapes the five characters the contract names, with the entity
// names real chat content uses (&quot;, not html.EscapeString's &#34;).
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

func escape(s string) string { return escaper.Replace(s) }

// renderContent renders a message's text as the "content" of its events:
//
//   - one line: the escaped text (no markdown is rendered);
//   - several lines, each starting with 4 spaces: <pre class='full'>, the
//     lines without those 4 spaces, escaped, joined by real newlines;
//   - other multi-line text: <div class='full'>, the escaped lines joined
//     by " <br> ";
//   - text longer than threshold bytes (threshold > 0): class 'partial'
//     instead of 'full', holding only the first threshold bytes (cut back
//     to a rune boundary); a long single line is wrapped in
//     <div class='partial'>.
//
// U+0002, U+0003 and every other control character pass through.
func renderContent(text string, threshold int) string {
	class, shown := "full", text
	if threshold > 0 && len(text) > threshold {
		class, shown = "partial", truncate(text, threshold)
	}
	if !strings.Contains(text, "\n") {
		if class == "full" {
			return escape(text)
		}
		return "<div class='partial'>" + escape(shown) + "</div>"
	}
	lines := strings.Split(shown, "\n")
	if fixedFont(text) {
		for i, l := range lines {
			lines[i] = strings.TrimPrefix(l, "    ")
		}
		return "<pre class='" + class + "'>" + escape(strings.Join(lines, "\n")) + "</pre>"
	}
	for i, l := range lines {
		lines[i] = escape(l)
	}
	return "<div class='" + class + "'>" + strings.Join(lines, " <br> ") + "</div>"
}

// fixedFont reports whether every line of a multi-line text starts with 4
// spaces.
func fixedFont(text string) bool {
	for l := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(l, "    ") {
			return false
		}
	}
	return true
}

// truncate returns at most n bytes of s, cut back to a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// zeroWidthEvery is the word length after which insertZeroWidth breaks a
// word.
const zeroWidthEvery = 20

// insertZeroWidth puts a U+200B after every 20 runes of each word (a run of
// non-space runes) longer than 20 runes, never at a word's end.
func insertZeroWidth(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/zeroWidthEvery*3)
	run := 0
	for _, r := range s {
		if unicode.IsSpace(r) {
			run = 0
		} else {
			if run > 0 && run%zeroWidthEvery == 0 {
				b.WriteRune('\u200B')
			}
			run++
		}
		b.WriteRune(r)
	}
	return b.String()
}

// slug is the URL slug of a name as chat links show it: ASCII letters
// (lower-cased) and digits kept, every other ASCII run one '-', non-ASCII
// dropped. A trailing '-' stays: the real page recorded in ChatExchange's
// tests links "Jeremy Banks Ψ" as /users/1251/jeremy-banks-.
func slug(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= utf8.RuneSelf:
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "user"
	}
	return b.String()
}

// displayText is a message as the room page shows it: a SocketScience
// frame (a text starting with ".\n\u0002") shortened to its length.
func displayText(text string) string {
	if strings.HasPrefix(text, ".\n\u0002") {
		return "(SocketScience frame, " + strconv.Itoa(len(text)) + " bytes)"
	}
	return text
}
