package ircws

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/socketscience/socketscience/messages"
)

// Plain text that looks like a frame's or fragment's wire form would be
// read back as a frame by every receiver: an injection. toWire refuses it,
// also behind what receivers strip first (whitespace, U+200B/U+200C,
// U+001C..U+001F).
func TestWireRefusesInjection(t *testing.T) {
	for _, text := range []string{
		". \x021234QUJD\x03",
		". \x0f0123456789abcdef 1/2 xyz",
		" . \x021234QUJD\x03",
		"\u200b. \x021234QUJD\x03",
		"\u200c\x1c\x1f\t. \x0f0123456789abcdef 1/2 xyz",
		// A fragment whose chunk starts with the wire form of a frame.
		".\n\x0f0123456789abcdef 0/2 . \x021234QUJ",
	} {
		w, ok := toWire(text)
		if ok {
			assert.Equal(t, text, fromWire(w), "%q accepted, so it must come back unchanged", text)
		}
		assert.False(t, ok, "%q", text)
	}
	for _, text := range []string{"a . \x02", ".  \x02", ". x\x02", "hello"} {
		w, ok := toWire(text)
		assert.True(t, ok, "%q", text)
		assert.Equal(t, text, fromWire(w))
	}
}

// For every text that toWire accepts, fromWire gives it back.
func FuzzWire(f *testing.F) {
	frame, err := messages.Encode(messages.Payload{"ping": strings.Repeat("x", 600)})
	if err != nil {
		f.Fatal(err)
	}
	pieces, err := messages.Fragment(frame, 300, "0123456789abcdef")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range append([]string{frame, ". \x02x\x03", " . \x0fa b c", "plain", "\u200b.\n\x02"}, pieces...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		w, ok := toWire(text)
		if !ok {
			return
		}
		if strings.ContainsAny(w, "\r\n\x00") {
			t.Fatalf("%q travels as %q, which is not one line", text, w)
		}
		if back := fromWire(w); back != text {
			t.Fatalf("%q travels as %q and comes back as %q", text, w, back)
		}
	})
}
