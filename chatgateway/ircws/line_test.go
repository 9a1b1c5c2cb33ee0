package ircws

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/messages"
)

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Line
	}{
		{"PING :irc.test.local", Line{Command: "PING", Params: []string{"irc.test.local"}, Trailing: true}},
		{":irc.test.local 001 bot1 :Welcome to TestNet\r\n", Line{Prefix: "irc.test.local", Command: "001", Params: []string{"bot1", "Welcome to TestNet"}, Trailing: true}},
		{"@time=2024-01-02T03:04:05.678Z;msgid=407~1795948654~20;inspircd.org/echo :C5533!C5533@127.0.0.1 PRIVMSG #test :echo test",
			Line{Tags: map[string]string{"time": "2024-01-02T03:04:05.678Z", "msgid": "407~1795948654~20", "inspircd.org/echo": ""},
				Prefix: "C5533!C5533@127.0.0.1", Command: "PRIVMSG", Params: []string{"#test", "echo test"}, Trailing: true}},
		{":a!b@c   privmsg   #x   hi", Line{Prefix: "a!b@c", Command: "PRIVMSG", Params: []string{"#x", "hi"}}},
		{"CAP * LS * :multi-prefix sasl=PLAIN", Line{Command: "CAP", Params: []string{"*", "LS", "*", "multi-prefix sasl=PLAIN"}, Trailing: true}},
		{"PRIVMSG #x :", Line{Command: "PRIVMSG", Params: []string{"#x", ""}, Trailing: true}},
		{"PRIVMSG #x ::-) a", Line{Command: "PRIVMSG", Params: []string{"#x", ":-) a"}, Trailing: true}},
		{`@a=x\:y\sz\\w\n;b :p CMD`, Line{Tags: map[string]string{"a": "x;y z\\w\n", "b": ""}, Prefix: "p", Command: "CMD"}},
	} {
		got, err := ParseLine(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
	// A command is letters or three digits: ": :" once parsed as command
	// ":" and formatted to a line that does not parse.
	for _, bad := range []string{"", "\r\n", "@tags-only", ":prefix-only", "@t :p ", "   ", ": :", "PING \r0", "PRIVMSG #x :a\nb", "PRIVMSG #x :a\x00b", "P:NG x", "12 x", "1234 x", "PRIV-MSG #x"} {
		_, err := ParseLine(bad)
		assert.ErrorIs(t, err, ErrBadLine, "%q", bad)
	}
	l, _ := ParseLine(":nick!user@host PRIVMSG #c :hello there")
	assert.Equal(t, "nick", l.Nick())
	assert.Equal(t, "", l.Param(5))
	assert.Equal(t, ":nick!user@host PRIVMSG #c :hello there", l.String())
}

// Every line that parses formats to a line that parses to the same thing.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		"PING :x", ":a!b@c PRIVMSG #x :hi there", "@a=b;c :p 001 n :w", `@a=\:\s\\ CMD p1 p2 :t`,
		"CAP * LS :sasl", ". \x02" + "1234abc\x03", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLine(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(s, "\r\n\x00") || !utf8.ValidString(s) {
			return // not a line a server sends
		}
		again, err := ParseLine(l.String())
		if err != nil {
			t.Fatalf("%q parsed as %#v, formatted as %q, which does not parse: %v", s, l, l.String(), err)
		}
		if len(l.Tags) == 0 {
			l.Tags = nil
		}
		if len(again.Tags) == 0 {
			again.Tags = nil
		}
		if len(l.Params) > 0 {
			// Whether the last parameter needed ':' is a formatting choice.
			l.Trailing, again.Trailing = false, false
		}
		assert.Equal(t, l.Command, again.Command)
		assert.Equal(t, l.Prefix, again.Prefix)
		assert.Equal(t, l.Params, again.Params)
	})
}

func TestWireMapping(t *testing.T) {
	frame, err := messages.Encode(messages.Payload{"ping": strings.Repeat("x", 3000)})
	require.NoError(t, err)
	pieces, err := messages.Fragment(frame, 450, messages.NewFragmentID(7))
	require.NoError(t, err)
	require.Greater(t, len(pieces), 3)
	for _, text := range append([]string{frame, "plain chat", "*serves a coffee*"}, pieces...) {
		wire, ok := toWire(text)
		require.True(t, ok, "%q", text)
		assert.NotContains(t, wire, "\n")
		assert.Len(t, wire, len(text), "the mapping keeps lengths")
		assert.Equal(t, text, fromWire(wire))
	}
	assert.True(t, strings.HasPrefix(mustWire(t, frame), ". \x02"))
	assert.True(t, strings.HasPrefix(mustWire(t, pieces[0]), ". \x0f"))
	assert.Contains(t, mustWire(t, pieces[0]), " . \x02", "the first fragment's embedded frame prefix")
	_, ok := toWire("two\nlines")
	assert.False(t, ok)
	_, ok = toWire(".\n\x02ab\ncd\x03")
	assert.False(t, ok, "a newline elsewhere in a frame")
}

func mustWire(t *testing.T, s string) string {
	w, ok := toWire(s)
	require.True(t, ok)
	return w
}

func TestUserIDAndMaxMessageLen(t *testing.T) {
	assert.Equal(t, UserID("Smokey[A]"), UserID("smokey{a}"), "rfc1459 casemapping")
	assert.NotEqual(t, UserID("smokey-alpha"), UserID("smokey-beta"))
	assert.Positive(t, UserID("x"))
	assert.Equal(t, []string{"n_", "n2", "n3"}, FallbackNicks("n", 3))
	assert.Len(t, TrustedAccounts(2, "a", "b"), 6)

	// 510 - len(":LA6881!LA6881@127.0.0.1 PRIVMSG #len :") = 471, as measured
	// against InspIRCd 3.15 (notes/chatservers.md).
	assert.Equal(t, 471, MaxMessageLen(512, "LA6881", "LA6881", "LA6881@127.0.0.1", "#len"))
	assert.Equal(t, 471+4096-512, MaxMessageLen(4096, "LA6881", "LA6881", "LA6881@127.0.0.1", "#len"), "LINELEN")
	unknown := MaxMessageLen(512, "LA6881", "LA6881", "", "#len")
	assert.Equal(t, 510-len(":LA6881!~LA6881@ PRIVMSG #len :")-DefaultMaxHostLen, unknown)
}
