package ircws_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/ircws"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
)

// A post the server refuses (404 and other numerics about the channel)
// makes Post fail with ErrRefused, an error the gateway reconnects and
// re-posts on: neither rejected for good nor permanent. With echo-message
// the echo proves a post, without it the PONG to the PING that follows it.
func TestRefusedPostsFail(t *testing.T) {
	for _, kind := range transports {
		for _, caps := range []string{"", "echo-message"} {
			t.Run(kind+"/"+caps, func(t *testing.T) {
				srv := newFakeServer(t, kind)
				ch := dialAsync(ircws.Config{URL: srv.URL, Channel: "#bots", Nick: "n"})
				sc := srv.accept()
				sc.welcome(caps)
				c := await(t, ch)
				sc.respond(func(l string) []string {
					if text, ok := strings.CutPrefix(l, "PRIVMSG #bots :"); ok {
						if num, ok := strings.CutPrefix(text, "refuse "); ok {
							return []string{":irc.test " + num + " n #bots :Cannot send to channel"}
						}
						if caps != "" {
							return []string{":n!u@h " + l}
						}
					}
					return pong(l)
				})
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				for _, num := range []string{"404", "442", "482", "489", "404", "477"} {
					_, err := c.Post(ctx, "refuse "+num)
					require.Error(t, err, num)
					assert.ErrorIs(t, err, ircws.ErrRefused, num)
					assert.NotErrorIs(t, err, chatgateway.ErrRejected, num)
					assert.NotErrorIs(t, err, chatgateway.ErrPermanent, num)
					_, err = c.Post(ctx, "fine after "+num)
					require.NoError(t, err)
				}
			})
		}
	}
}

// Post waits for its proof no longer than its context allows, nor past the
// liveness timeout of a server that never answers.
func TestPostIsBounded(t *testing.T) {
	for _, kind := range transports {
		for _, caps := range []string{"", "echo-message"} {
			t.Run(kind+"/"+caps, func(t *testing.T) {
				srv := newFakeServer(t, kind)
				clock := fakeclock.New(time.Unix(1e9, 0))
				ch := dialAsync(ircws.Config{URL: srv.URL, Channel: "#bots", Nick: "n", Clock: clock,
					PingInterval: time.Second, LivenessTimeout: 2 * time.Second})
				sc := srv.accept()
				sc.welcome(caps)
				c := await(t, ch)

				ctx, cancel := context.WithCancel(context.Background())
				posted := make(chan error, 1)
				go func() { _, err := c.Post(ctx, "one"); posted <- err }()
				sc.expect("PRIVMSG #bots :one")
				cancel()
				select {
				case err := <-posted:
					assert.ErrorIs(t, err, context.Canceled)
				case <-time.After(wait):
					t.Fatal("Post did not return when its context ended")
				}

				go func() { _, err := c.Post(context.Background(), "two"); posted <- err }()
				sc.expect("PRIVMSG #bots :two")
				for range 3 {
					clock.Advance(time.Second)
				}
				select {
				case err := <-posted:
					require.Error(t, err)
					assert.ErrorIs(t, err, ircws.ErrSilent)
				case <-time.After(wait):
					t.Fatal("Post did not return past the liveness timeout")
				}
			})
		}
	}
}
