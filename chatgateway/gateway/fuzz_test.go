package gateway

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
)

// FuzzInboundCheck feeds arbitrary chat messages, from a trusted account
// and from a stranger, through the reader's checks: nothing panics, a
// stranger never gets past trust, and whatever is accepted is a frame that
// splits.
func FuzzInboundCheck(f *testing.F) {
	frame, _ := messages.Encode(messages.Payload{"ping": 1})
	signed, _ := messages.EncodeSignedFrame(messages.Payload{"ping": 1}, &messages.Envelope{Node: "n", Incarnation: 1, Seq: 1, Time: 1}, "room", []byte("k"))
	pieces, _ := messages.Fragment(strings.Repeat("x", 10)+frame, 60, messages.NewFragmentID(1))
	for _, s := range append([]string{frame, signed, "!!/coffee", "\u200b" + frame, ".\n\x02", ".\n\x0f"}, pieces...) {
		f.Add(s, true, false)
		f.Add(s, false, true)
	}
	f.Fuzz(func(t *testing.T, text string, trusted, sign bool) {
		clock := fakeclock.New(time.UnixMilli(1))
		in := inbound{skew: DefaultMaxClockSkew, clock: clock, start: clock.Now(),
			reassembler: messages.NewReassembler(messages.ReassemblyLimits{})}
		if sign {
			in.secret = []byte("k")
		}
		user := int64(2)
		if trusted {
			user = 1
		}
		msg := messages.ChatMessage{ID: 1, UserID: user, Text: text}
		fr, err := in.check(msg, "room", trust{ids: []int64{1}})
		kind := messages.Classify(text)
		switch {
		case kind == messages.KindChat:
			if !errors.Is(err, messages.ErrNotFrame) {
				t.Fatalf("chat %q: %v", text, err)
			}
		case !trusted:
			if !errors.Is(err, ErrUntrusted) {
				t.Fatalf("a stranger's %q: %v", text, err)
			}
		case err == nil && kind == messages.KindFrame:
			if _, serr := messages.Split(text); serr != nil {
				t.Fatalf("accepted %q (%d types), which does not split: %v", text, len(fr.Frame.Types), serr)
			}
		}
	})
}
