package test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway/ircws"
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

// wireForms are texts that are plain chat to every receiver but that an
// adapter's own wire mapping might turn into a frame (IRC carries a frame's
// ".\n" as ". "): Post may accept them, but no receiver may handle them.
func wireForms(t *testing.T) []string {
	frame, err := messages.Encode(messages.Payload{"cmd": "shutdown"})
	require.NoError(t, err)
	body := strings.TrimPrefix(frame, messages.FramePrefix)
	return []string{". \x02" + body, " . \x02" + body, ". \x0f0000000000000007-0000000000000001 0/1 " + frame + "\x03"}
}

// attackInjection has relay post every injection, and checks that none is
// handled by victim, whose chat handler feeds chat.
func attackInjection(t *testing.T, relay, victim *socketscience.Node, chat <-chan string) {
	t.Helper()
	handled := make(chan string, 10)
	_, err := socketscience.Handle(victim, "cmd", func(ctx context.Context, cmd string) error {
		handled <- cmd
		return nil
	})
	require.NoError(t, err)
	for name, text := range injections(t) {
		err := relay.Post(context.Background(), text)
		assert.ErrorIs(t, err, socketscience.ErrInvalidPayload, name)
	}
	for _, text := range wireForms(t) {
		_ = relay.Post(context.Background(), text) // refused here, or by the adapter
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
	assert.Zero(t, victim.Stats().Frames, "no frame reached the victim")
	// An adapter that refuses a wire form drops it, counted and reported.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := relay.Flush(ctx); err != nil {
		assert.ErrorIs(t, err, socketscience.ErrDropped)
		assert.Equal(t, int64(len(wireForms(t))), relay.Stats().Dropped["rejected"])
	}
}

func chatTo(ch chan<- string) socketscience.Option {
	return socketscience.WithChatHandler(func(ctx context.Context, m messages.ChatMessage) { ch <- m.Text })
}

// Post refuses every text that any receiver would treat as a frame or a
// fragment, whatever disguises it, so a relay of strangers' words can never
// make the bot's other instances run a command: in memory, over the local
// Stack Exchange chat server, and over a real IRC server.
func TestAttackPostInjection(t *testing.T) {
	t.Run("memchat", func(t *testing.T) {
		room := memchat.NewRoom()
		chat := make(chan string, 100)
		relay, victim := connect(t, room, "relay"), connect(t, room, "victim", chatTo(chat))
		defer closeNodes(t, relay, victim)
		attackInjection(t, relay, victim, chat)
		for _, e := range room.Transcript() {
			assert.NotEqual(t, messages.KindFrame, messages.Classify(e.Text), "no frame reached the room")
		}
	})
	t.Run("sechat", func(t *testing.T) {
		r := newSERoom(t)
		chat := make(chan string, 100)
		attackInjection(t, r.node(t), r.node(t, chatTo(chat)), chat)
	})
	t.Run("irc", func(t *testing.T) {
		srv := startIRCd(t)
		nicks := []string{"inj-relay", "inj-victim"}
		trust := socketscience.WithTrustedAccounts(ircws.TrustedAccounts(1, nicks...)...)
		chat := make(chan string, 100)
		relay := ircNode(t, srv, nicks[0], nicks, trust)
		victim := ircNode(t, srv, nicks[1], nicks, trust, chatTo(chat))
		waitConnected(t, relay, victim)
		attackInjection(t, relay, victim, chat)
	})
}
