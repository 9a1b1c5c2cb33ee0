package ircws_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway/ircws"
)

// Services force a nick change: the connection follows NICK for its own
// nick, so Identity (read meanwhile from another goroutine) and its local
// echoes name the new nick; other users' nick changes change nothing.
func TestForcedNickChange(t *testing.T) {
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			srv := newFakeServer(t, kind)
			ch := dialAsync(ircws.Config{URL: srv.URL, Channel: "#bots", Nick: "Smokey"})
			sc := srv.accept()
			sc.welcome("")
			c := await(t, ch)
			room := c.Identity().Room

			var wg sync.WaitGroup
			stop := make(chan struct{})
			wg.Add(1)
			go func() { // Identity must be safe to call while the reader changes it
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
						_ = c.Identity()
					}
				}
			}()
			sc.mustSend(":other!o@h NICK :Other2", ":smokey!u@h NICK :Guest[42]", ":x!y@z PRIVMSG #bots :sync")
			m, err := c.Read()
			require.NoError(t, err)
			require.Equal(t, "sync", m.Text)
			close(stop)
			wg.Wait()

			id := c.Identity()
			assert.Equal(t, "Guest[42]", id.UserName)
			assert.Equal(t, "guest{42}", id.Account)
			assert.Equal(t, ircws.UserID("Guest[42]"), id.UserID)
			assert.Equal(t, room, id.Room)

			sc.respond(pong)
			_, err = c.Post(context.Background(), "hello")
			require.NoError(t, err)
			m, err = c.Read()
			require.NoError(t, err)
			assert.Equal(t, "guest{42}", m.Account, "the local echo is from the new nick")

			sc.mustSend(":op!o@h KICK #bots Guest[42] :bye")
			_, err = readWithin(t, c)
			assert.ErrorIs(t, err, ircws.ErrKicked)
		})
	}
}
