package test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/messages"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// limitedDialer's connections report a server that takes at most max
// bytes per message, as IRC does.
type limitedDialer struct {
	chatgateway.Dialer
	max int
}

func (d limitedDialer) Dial(ctx context.Context) (chatgateway.Conn, error) {
	c, err := d.Dialer.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return limitedConn{c, d.max}, nil
}

type limitedConn struct {
	chatgateway.Conn
	max int
}

func (c limitedConn) Limits() chatgateway.Limits {
	l := c.Conn.Limits()
	l.MaxMessageLen = c.max
	return l
}

func (c limitedConn) Post(ctx context.Context, text string) (int64, error) {
	if len(text) > c.max {
		return 0, fmt.Errorf("%w: %d > %d", chatgateway.ErrMessageTooLong, len(text), c.max)
	}
	return c.Conn.Post(ctx, text)
}

// A stranger in the room, and a leaked copy of the bot's account without
// the secret, post frames of every bad kind: nothing of theirs is handled,
// the node's reassembly memory stays within its bounds, and the trusted
// nodes keep exchanging payloads, a 50 KB one included, through a
// connection limited to 500 bytes per message.
func TestSEHostileRoom(t *testing.T) {
	r := newSERoom(t)
	secret := []byte("shared by the bot's Go nodes")
	limits := messages.ReassemblyLimits{MaxBytesPerSender: 256 << 10, MaxBytesTotal: 512 << 10}
	node := func() *socketscience.Node {
		return r.nodeWith(t, nil, func(d chatgateway.Dialer) chatgateway.Dialer { return limitedDialer{d, 500} },
			socketscience.WithSecret(secret), socketscience.WithReassemblyLimits(limits), fastReconnect())
	}
	a, b := node(), node()
	notes := handle[string](t, b, "note")
	blobs := handle[string](t, b, "blob")

	say := func(user int64, text string) {
		_, err := r.srv.Say(r.room.ID, user, text)
		require.NoError(t, err)
	}
	room := r.name(t)
	valid, err := messages.EncodeSignedFrame(messages.Payload{"note": "from a"},
		&messages.Envelope{Node: "leaked", Seq: 1, Time: time.Now().UnixMilli()}, room, secret)
	require.NoError(t, err)
	unsigned, err := messages.EncodeFrame(messages.Payload{"note": "unsigned"},
		&messages.Envelope{Node: "forger", Seq: 1, Time: time.Now().UnixMilli()})
	require.NoError(t, err)
	forged, err := messages.EncodeSignedFrame(messages.Payload{"note": "forged"},
		&messages.Envelope{Node: "forger", Seq: 2, Time: time.Now().UnixMilli()}, room, []byte("a guess"))
	require.NoError(t, err)
	old, err := messages.EncodeSignedFrame(messages.Payload{"note": "old"},
		&messages.Envelope{Node: "replayer", Seq: 1, Time: time.Now().Add(-time.Hour).UnixMilli()}, room, secret)
	require.NoError(t, err)
	smokey, err := messages.Encode(messages.Payload{"note": "smokedetector, unsigned"})
	require.NoError(t, err)
	oversized := messages.FramePrefix + "0000" + strings.Repeat("A", 2<<20) + "\x03"

	// The stranger: a valid signed frame (a copy), and a fragment flood.
	say(r.stranger.ID, valid)
	for i := range 50 {
		say(r.stranger.ID, fmt.Sprintf("%s%016x 0/2 %s\x03", messages.FragmentPrefix, i, strings.Repeat("A", 400)))
	}
	// The leaked account: unsigned, forged, replayed, oversized, and
	// fragments of payloads that never complete, far more than the limits.
	say(r.bot.ID, unsigned)
	say(r.bot.ID, smokey)
	say(r.bot.ID, forged)
	say(r.bot.ID, old)
	say(r.bot.ID, oversized)
	for i := range 400 {
		say(r.bot.ID, fmt.Sprintf("%s%016x 0/200 %s\x03", messages.FragmentPrefix, 1000+i, strings.Repeat("B", 4000)))
	}

	// Meanwhile the trusted nodes go on.
	big := strings.Repeat("0123456789abcdef", 50<<10/16)
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"note": "hello"}))
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"blob": big}))
	require.Eventually(t, func() bool { return len(blobs.all()) == 1 }, 30*time.Second, 10*time.Millisecond)
	assert.Equal(t, big, blobs.all()[0])
	assert.Equal(t, []string{"hello"}, notes.all(), "nothing of the stranger's or the forger's was handled")

	dropped := b.Stats().Dropped
	t.Logf("dropped: %v", dropped)
	assert.Equal(t, int64(51), dropped["untrusted"], "the stranger's frame and fragments")
	assert.Equal(t, int64(2), dropped["unsigned"], "unsigned, and SmokeDetector's (signing on)")
	assert.Equal(t, int64(1), dropped["bad_signature"])
	assert.Equal(t, int64(1), dropped["stale"])
	assert.Equal(t, int64(1), dropped["too_large"])
	assert.Positive(t, dropped["fragment_limit"], "the flood hit the reassembly bounds")
	assert.LessOrEqual(t, b.Stats().FragmentBytes, int64(limits.MaxBytesTotal))
	assert.Greater(t, a.Stats().Posted, int64(100), "the 50 KB payload went as fragments")
}
