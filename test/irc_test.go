package test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway/gateway"
	"github.com/socketscience/socketscience/chatgateway/ircws"
	"github.com/socketscience/socketscience/messages"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ircChannel = "#bots"

// ircNode joins the channel of a real InspIRCd over WebSocket as nick.
func ircNode(t *testing.T, srv *ircd, nick string, peers []string, opts ...socketscience.Option) *socketscience.Node {
	t.Helper()
	return ircNodeAt(t, srv.wsURL(), nick, peers, opts...)
}

// ircNodeAt is ircNode over the server's URL url (WebSocket or TCP).
func ircNodeAt(t *testing.T, url, nick string, peers []string, opts ...socketscience.Option) *socketscience.Node {
	t.Helper()
	var wait4 []string
	for _, p := range peers {
		if p != nick {
			wait4 = append(wait4, p)
		}
	}
	d, err := ircws.NewDialer(ircws.Config{URL: url, Channel: ircChannel, Nick: nick, WaitForNicks: wait4})
	require.NoError(t, err)
	n, err := socketscience.New(d, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { closeNodes(t, n) })
	return n
}

func waitConnected(t *testing.T, nodes ...*socketscience.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range nodes {
		require.NoError(t, n.WaitConnected(ctx))
	}
}

// rawIRC is a plain IRC client the test drives over TCP: no library, just
// lines.
type rawIRC struct {
	c     net.Conn
	lines chan string
	wg    sync.WaitGroup
}

func dialRawIRC(t *testing.T, srv *ircd, nick string) *rawIRC {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", srv.tcpPort), wait)
	require.NoError(t, err)
	r := &rawIRC{c: c, lines: make(chan string, 1024)}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(r.lines)
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			l := strings.TrimRight(sc.Text(), "\r")
			if strings.HasPrefix(l, "PING ") {
				fmt.Fprintf(c, "PONG %s\r\n", l[5:])
			}
			select {
			case r.lines <- l:
			default: // the test reads only what it waits for
			}
		}
	}()
	t.Cleanup(func() { c.Close(); r.wg.Wait() })
	r.send("NICK " + nick)
	r.send("USER " + nick + " 0 * :raw client")
	r.await(t, " 001 ")
	r.send("JOIN " + ircChannel)
	r.await(t, " 366 ")
	return r
}

func (r *rawIRC) send(line string) { fmt.Fprintf(r.c, "%s\r\n", line) }

func (r *rawIRC) await(t *testing.T, substr string) string {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case l, ok := <-r.lines:
			require.True(t, ok, "connection closed waiting for %q", substr)
			if strings.Contains(l, substr) {
				return l
			}
		case <-timeout:
			t.Fatalf("no %q from the server in %v", substr, wait)
		}
	}
}

// onWire is text as a client puts it on an IRC line (see package ircws).
func onWire(text string) string { return strings.Replace(text, ".\n", ". ", 1) }

type ircNote struct {
	From string `msgpack:"from"`
	N    int    `msgpack:"n"`
}

// Three nodes in one channel of a real InspIRCd, over WebSocket, exchange
// payloads of several types, a 10 KB one as fragments; with signing on, a
// plain IRC client in the channel posts forged frames and nothing of its is
// handled.
func TestIRCThreeNodesAndForger(t *testing.T) {
	srv := startIRCd(t)
	nicks := []string{"irc-a", "irc-b", "irc-c"}
	secret := []byte("the bots' shared secret")
	// WithoutSelfDelivery: the checks below count what each node's peers sent.
	opts := []socketscience.Option{socketscience.WithSecret(secret), socketscience.WithoutSelfDelivery(),
		socketscience.WithTrustedAccounts(ircws.TrustedAccounts(1, nicks...)...), fastReconnect()}
	var nodes []*socketscience.Node
	for _, nick := range nicks {
		nodes = append(nodes, ircNode(t, srv, nick, nil, opts...))
	}
	waitConnected(t, nodes...)
	type boxes struct {
		pings *inbox[string]
		notes *inbox[ircNote]
		blobs *inbox[string]
	}
	got := make([]boxes, len(nodes))
	for i, n := range nodes {
		got[i] = boxes{handle[string](t, n, "ping"), handle[ircNote](t, n, "note"), handle[string](t, n, "blob")}
	}

	// A forger holds nick irc-a_, irc-a's fallback, which is trusted by id
	// but has no secret; mallory is a stranger who copies a node's frame.
	forger := dialRawIRC(t, srv, "irc-a_")
	mallory := dialRawIRC(t, srv, "mallory")

	big := strings.Repeat("0123456789abcdef", 10<<10/16)
	for i, n := range nodes {
		require.NoError(t, n.Send(context.Background(), socketscience.Payload{"ping": nicks[i], "note": ircNote{nicks[i], i}}))
	}
	require.NoError(t, nodes[0].Send(context.Background(), socketscience.Payload{"blob": big}))

	unsigned, err := messages.EncodeFrame(messages.Payload{"ping": "unsigned"},
		&messages.Envelope{Node: "forger", Seq: 1, Time: time.Now().UnixMilli()})
	require.NoError(t, err)
	forged, err := messages.EncodeSignedFrame(messages.Payload{"ping": "forged"},
		&messages.Envelope{Node: "forger", Seq: 2, Time: time.Now().UnixMilli()}, "", []byte("a guess"))
	require.NoError(t, err)
	forger.send("PRIVMSG " + ircChannel + " :" + onWire(unsigned))
	forger.send("PRIVMSG " + ircChannel + " :" + onWire(forged))
	forger.send("PRIVMSG " + ircChannel + " :" + onWire(messages.FramePrefix+"0000!!!not base64!!!\x03"))
	// mallory reposts the first frame it sees from irc-b, byte for byte.
	copied := mallory.await(t, ":irc-b!")
	_, text, ok := strings.Cut(copied, " :")
	require.True(t, ok)
	mallory.send("PRIVMSG " + ircChannel + " :" + text)

	for i := range nodes {
		require.Eventually(t, func() bool {
			return len(got[i].pings.all()) == 2 && len(got[i].notes.all()) == 2
		}, 30*time.Second, 10*time.Millisecond, "node %d", i)
	}
	for i := 1; i < len(nodes); i++ {
		require.Eventually(t, func() bool { return len(got[i].blobs.all()) == 1 }, 90*time.Second, 10*time.Millisecond)
		assert.Equal(t, big, got[i].blobs.all()[0])
	}
	for i := range nodes {
		var want []string
		for j, nick := range nicks {
			if j != i {
				want = append(want, nick)
			}
		}
		assert.ElementsMatch(t, want, got[i].pings.all(), "node %d: nothing forged was handled", i)
	}
	assert.Greater(t, nodes[0].Stats().Posted, int64(10), "the 10 KB payload went as fragments")
	// The forger's and mallory's lines arrive before the blob's last piece.
	for i, n := range nodes[1:] {
		d := n.Stats().Dropped
		t.Logf("node %d dropped: %v", i+1, d)
		assert.Equal(t, int64(1), d["unsigned"])
		assert.Equal(t, int64(1), d["bad_signature"])
		assert.Equal(t, int64(1), d["bad_base64"])
		assert.Equal(t, int64(1), d["untrusted"], "mallory's copy")
	}
}

// The server is killed mid-run and started again: the nodes reconnect with
// backoff, and what each sent meanwhile reaches every other node once.
func TestIRCServerRestart(t *testing.T) {
	srv := startIRCd(t)
	nicks := []string{"irc-a", "irc-b", "irc-c"}
	p := gateway.DefaultReconnectPolicy()
	p.Backoff.Initial, p.Backoff.Max = 50*time.Millisecond, 500*time.Millisecond
	// WithoutSelfDelivery: want counts what each node's peers sent.
	opts := []socketscience.Option{socketscience.WithTrustedAccounts(ircws.TrustedAccounts(1, nicks...)...),
		socketscience.WithReconnectPolicy(p), socketscience.WithoutSelfDelivery()}
	var nodes []*socketscience.Node
	var pings []*inbox[string]
	for _, nick := range nicks {
		n := ircNode(t, srv, nick, nicks, opts...)
		nodes = append(nodes, n)
		pings = append(pings, handle[string](t, n, "ping"))
	}
	waitConnected(t, nodes...)
	send := func(round string) {
		for i, n := range nodes {
			for j := range 3 {
				require.NoError(t, n.Send(context.Background(), socketscience.Payload{"ping": fmt.Sprintf("%s %s %d", round, nicks[i], j)}))
			}
		}
	}
	want := func(i int, rounds ...string) []string {
		var w []string
		for _, r := range rounds {
			for j, nick := range nicks {
				if j != i {
					for k := range 3 {
						w = append(w, fmt.Sprintf("%s %s %d", r, nick, k))
					}
				}
			}
		}
		return w
	}
	arrived := func(rounds ...string) {
		t.Helper()
		for i := range nodes {
			require.Eventually(t, func() bool { return len(pings[i].all()) >= len(want(i, rounds...)) },
				60*time.Second, 10*time.Millisecond, "node %d got %v", i, pings[i].all())
			assert.ElementsMatch(t, want(i, rounds...), pings[i].all(), "node %d", i)
		}
	}
	send("before")
	arrived("before")

	srv.kill(t)
	for i, n := range nodes {
		require.Eventually(t, func() bool { return !n.Health().Connected }, wait, time.Millisecond, "node %d", i)
	}
	send("during") // queued while the server is down
	srv.start(t)
	waitConnected(t, nodes...)
	send("after")
	arrived("before", "during", "after")
	for i, n := range nodes {
		assert.GreaterOrEqual(t, n.Stats().Reconnects, int64(1), "node %d", i)
	}
}

// A burst of 200 payloads through InspIRCd's default flood class, from a
// node on plain TCP to one on WebSocket: nobody is disconnected for
// flooding, and every payload arrives, in order per type, coalesced into
// far fewer posts.
func TestIRCBurstUnderDefaultFloodClass(t *testing.T) {
	srv := startIRCd(t)
	nicks := []string{"irc-a", "irc-b"}
	opts := []socketscience.Option{socketscience.WithTrustedAccounts(ircws.TrustedAccounts(1, nicks...)...)}
	a, b := ircNodeAt(t, srv.tcpURL(), nicks[0], nil, opts...), ircNode(t, srv, nicks[1], nil, opts...)
	waitConnected(t, a, b)
	const types, rounds = 40, 5
	boxes := make([]*inbox[int], types)
	for i := range boxes {
		boxes[i] = handle[int](t, b, fmt.Sprintf("t%02d", i))
	}
	start := time.Now()
	for r := range rounds {
		for i := range types {
			require.NoError(t, a.Send(context.Background(), socketscience.Payload{fmt.Sprintf("t%02d", i): r}))
		}
	}
	for i, box := range boxes {
		require.Eventually(t, func() bool { return len(box.all()) == rounds }, 120*time.Second, 10*time.Millisecond, "type %d", i)
		assert.Equal(t, []int{0, 1, 2, 3, 4}, box.all())
	}
	t.Logf("200 payloads in %d posts, %v", a.Stats().Posted, time.Since(start).Round(time.Millisecond))
	assert.Less(t, a.Stats().Posted, int64(types*rounds/4), "coalesced")
	for _, n := range []*socketscience.Node{a, b} {
		assert.True(t, n.Health().Connected)
		assert.Zero(t, n.Stats().Reconnects)
	}
	out := srv.out.String()
	for _, bad := range []string{"Excess Flood", "RecvQ exceeded", "SendQ exceeded"} {
		assert.NotContains(t, out, bad)
	}
}
