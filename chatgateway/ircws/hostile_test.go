package ircws_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway/ircws"
)

func dialResult(t *testing.T, ch <-chan dialed) dialed {
	t.Helper()
	select {
	case d := <-ch:
		if d.err == nil {
			t.Cleanup(func() { d.c.Close() })
		}
		return d
	case <-timeoutC():
		t.Fatal("Dial did not return")
		return dialed{}
	}
}

// Numerics with no parameters at all, during registration: each either
// fails Dial with an error or is ignored, and never crashes the process.
func TestBareNumericsDuringRegistration(t *testing.T) {
	for _, kind := range transports {
		for _, bare := range []string{"464", "465", "432", "904", "902", "005", "001", "396", "433", "353", "366",
			"403", "474", "CAP", "JOIN", "AUTHENTICATE", "PING", "ERROR", "PRIVMSG", "NICK"} {
			t.Run(kind+"/"+bare, func(t *testing.T) {
				srv := newFakeServer(t, kind)
				ch := dialAsync(ircws.Config{URL: srv.URL, Channel: "#bots", Nick: "n", SASLUser: "a", SASLPassword: "p"})
				sc := srv.accept()
				sc.expect("USER ")
				// The client may have hung up by now: later writes may fail.
				_ = sc.send(":irc.test "+bare, bare)
				_ = sc.send("CAP * LS :sasl", "CAP * ACK :sasl", "AUTHENTICATE +", ":irc.test 903 n :ok",
					":irc.test 001 n :hi", ":irc.test 422 n :no motd")
				_ = sc.send(":n!u@h JOIN #bots", ":irc.test 366 n #bots :end")
				d := dialResult(t, ch)
				switch bare {
				case "464", "904", "902":
					assert.ErrorIs(t, d.err, ircws.ErrAuth)
				case "465", "432", "ERROR":
					assert.Error(t, d.err)
				}
			})
		}
	}
}

// Lines with missing parameters once joined: the reader survives them all
// and still reads the next channel message.
func TestBareLinesAfterJoin(t *testing.T) {
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			srv := newFakeServer(t, kind)
			ch := dialAsync(ircws.Config{URL: srv.URL, Channel: "#bots", Nick: "n"})
			sc := srv.accept()
			sc.welcome("")
			c := await(t, ch)
			for _, bare := range []string{"404", "442", "482", "489", "005", "KICK", "KICK #bots", "NICK", "JOIN", "PART",
				"PRIVMSG", "PRIVMSG #bots", "PING", "PONG", "CAP", "001", "433"} {
				sc.mustSend(bare, ":irc.test "+bare, ":x!y@z "+bare)
			}
			sc.mustSend(":other!o@h PRIVMSG #bots :still here")
			m, err := c.Read()
			require.NoError(t, err)
			assert.Equal(t, "still here", m.Text)
		})
	}
}

func timeoutC() <-chan time.Time { return time.After(wait) }
