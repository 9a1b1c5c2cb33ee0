package test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/messages"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// injections are texts that a relay (a "!!/say <text>" command fed by a
// stranger) might be asked to post, each of which some receiver would take
// for a frame or a fragment from the bot's own account.
func injections(t *testing.T) map[string]string {
	t.Helper()
	frame, err := messages.Encode(messages.Payload{"cmd": "shutdown"})
	require.NoError(t, err)
	body := strings.TrimPrefix(frame, messages.FramePrefix)
	oneFragment := messages.FragmentPrefix + messages.NewFragmentID(7) + " 0/1 " + frame + "\x03"
	return map[string]string{
		"literal frame":                   frame,
		"leading spaces":                  "  \t" + frame,
		"leading U+200B":                  "\u200b" + frame,
		"U+200C inside the prefix":        ".\n\u200c\x02" + body,
		"U+200B before the newline":       ".\u200b\n\x02" + body,
		"Python whitespace U+001C-U+001F": "\x1c\x1d" + frame + "\x1e\x1f",
		"CR LF newline":                   ".\r\n\x02" + body,
		"one-piece fragment":              oneFragment,
		"fragment behind U+200B":          "\u200b" + oneFragment,
		"fragment with U+001F":            "\x1f" + oneFragment,
	}
}

// Post refuses every text that any receiver would treat as a frame or a
// fragment, whatever disguises it, so a relay of strangers' words can never
// make the bot's other instances run a command.
func TestAttackPostInjection(t *testing.T) {
	room := memchat.NewRoom()
	relay := connect(t, room, "relay")
	victim := connect(t, room, "victim")
	chat := make(chan string, 100)
	victimWithChat := connect(t, room, "victim-chat", socketscience.WithChatHandler(func(ctx context.Context, m messages.ChatMessage) {
		chat <- m.Text
	}))
	handled := make(chan string, 10)
	for _, n := range []*socketscience.Node{victim, victimWithChat} {
		_, err := socketscience.Handle(n, "cmd", func(ctx context.Context, cmd string) error {
			handled <- cmd
			return nil
		})
		require.NoError(t, err)
	}
	defer closeNodes(t, relay, victim, victimWithChat)

	for name, text := range injections(t) {
		err := relay.Post(context.Background(), text)
		assert.ErrorIs(t, err, socketscience.ErrInvalidPayload, name)
	}
	// Room order: once this plain text is heard, anything posted before it
	// has been read too.
	require.NoError(t, relay.Post(context.Background(), "the end"))
	for heard := false; !heard; {
		select {
		case text := <-chat:
			heard = text == "the end"
		case <-time.After(wait):
			t.Fatal("the plain text never reached the chat handler")
		}
	}
	select {
	case cmd := <-handled:
		t.Fatalf("an injected frame was handled: %q", cmd)
	default:
	}
	for _, e := range room.Transcript() {
		assert.Equal(t, "the end", e.Text, "only the plain text reached the room")
	}
}
