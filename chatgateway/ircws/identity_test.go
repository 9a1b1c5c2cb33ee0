package ircws_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway/ircws"
)

// Account is the nick folded with the server's casemapping (rfc1459 unless
// 005 says otherwise), on the connection's identity and on every message;
// Room names the server as configured and the folded channel.
func TestAccountAndRoom(t *testing.T) {
	for _, kind := range transports {
		for _, tc := range []struct {
			isupport            string
			self, other, folded string
		}{
			{"", "smokey{a}", "other^{x}", "#bots{1}"},
			{"CASEMAPPING=rfc1459", "smokey{a}", "other^{x}", "#bots{1}"},
			{"CASEMAPPING=strict-rfc1459", "smokey{a}", "other~{x}", "#bots{1}"},
			{"CASEMAPPING=ascii", "smokey[a]", "other~[x]", "#bots[1]"},
		} {
			t.Run(kind+"/"+tc.isupport, func(t *testing.T) {
				srv := newFakeServer(t, kind)
				ch := dialAsync(ircws.Config{URL: srv.URL, Channel: "#Bots[1]", Nick: "Smokey[A]"})
				sc := srv.accept()
				nick := sc.register("", ":irc.test 005 Smokey[A] LINELEN=512 "+tc.isupport+" :are supported")
				sc.join(nick)
				c := await(t, ch)
				u, err := url.Parse(srv.URL)
				require.NoError(t, err)
				id := c.Identity()
				assert.Equal(t, tc.self, id.Account)
				assert.Equal(t, "Smokey[A]", id.UserName)
				assert.Equal(t, ircws.UserID("Smokey[A]"), id.UserID, "UserID stays as it was")
				assert.Equal(t, u.Scheme+"://"+u.Host+"/"+tc.folded, id.Room)
				sc.mustSend(":Other~[X]!o@h PRIVMSG #bots[1] :hi")
				m, err := c.Read()
				require.NoError(t, err)
				assert.Equal(t, tc.other, m.Account)
				assert.Equal(t, "Other~[X]", m.UserName)
			})
		}
	}
}

func TestAccountFolding(t *testing.T) {
	assert.Equal(t, "smokey{a}|^", ircws.Account("Smokey[A]\\~"))
	assert.Equal(t, []string{"a", "a_", "a2", "b{}", "b{}_", "b{}2"}, ircws.TrustedAccounts(2, "A", "b[]"))
}

// The room is the same string however the URL spells the default port.
func TestRoomDefaultPorts(t *testing.T) {
	for _, tc := range []struct{ url, room string }{
		{"irc://Irc.Example.net", "irc://irc.example.net:6667/#bots"},
		{"tcp://irc.example.net:6667", "irc://irc.example.net:6667/#bots"},
		{"ircs://irc.example.net", "ircs://irc.example.net:6697/#bots"},
		{"ws://irc.example.net/webirc", "ws://irc.example.net:80/#bots"},
		{"wss://irc.example.net:443/", "wss://irc.example.net:443/#bots"},
	} {
		room, err := ircws.Room(tc.url, "#Bots")
		require.NoError(t, err)
		assert.Equal(t, tc.room, room, tc.url)
	}
}
