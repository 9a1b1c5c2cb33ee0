package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/sechat"
	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seRoom is a room on a local Stack Exchange chat server, with the bot
// account its nodes share (as SmokeDetector's instances do) and a stranger.
type seRoom struct {
	srv      *sechattest.Server
	room     sechattest.Room
	bot      sechattest.User
	stranger sechattest.User
}

func newSERoom(t *testing.T, opts ...sechattest.Option) *seRoom {
	srv := sechattest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return &seRoom{
		srv:      srv,
		room:     srv.AddRoom("bots"),
		bot:      srv.AddUser("SmokeDetector", "smokey@example.com", "secret"),
		stranger: srv.AddUser("stranger", "stranger@example.com", "secret2"),
	}
}

// name is the room's name as the bot's connections report it
// (chatgateway.Identity.Room), which signatures cover.
func (r *seRoom) name(t *testing.T) string {
	t.Helper()
	client, err := sechat.NewClient(sechat.Config{BaseURL: r.srv.URL, Email: "smokey@example.com", Password: "secret"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, err := client.Room(r.room.ID).Dial(ctx)
	require.NoError(t, err)
	defer conn.Close()
	return conn.Identity().Room
}

// node joins the room as the bot, over real HTTP and WebSocket on loopback.
func (r *seRoom) node(t *testing.T, opts ...socketscience.Option) *socketscience.Node {
	t.Helper()
	return r.nodeWith(t, nil, nil, opts...)
}

// nodeWith is node with the adapter's config changed by config, and its
// Dialer wrapped by wrap, where they are not nil.
func (r *seRoom) nodeWith(t *testing.T, config func(*sechat.Config), wrap func(chatgateway.Dialer) chatgateway.Dialer, opts ...socketscience.Option) *socketscience.Node {
	t.Helper()
	cfg := sechat.Config{BaseURL: r.srv.URL, Email: "smokey@example.com", Password: "secret"}
	if config != nil {
		config(&cfg)
	}
	client, err := sechat.NewClient(cfg)
	require.NoError(t, err)
	var dialer chatgateway.Dialer = client.Room(r.room.ID)
	if wrap != nil {
		dialer = wrap(dialer)
	}
	n, err := socketscience.New(dialer, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { closeNodes(t, n) })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, n.WaitConnected(ctx))
	return n
}

type inbox[T any] struct {
	mu  sync.Mutex
	got []T
}

func (b *inbox[T]) add(v T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, v)
}

func (b *inbox[T]) all() []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]T(nil), b.got...)
}

func handle[T any](t *testing.T, n *socketscience.Node, typ string) *inbox[T] {
	t.Helper()
	b := &inbox[T]{}
	_, err := socketscience.Handle(n, typ, func(ctx context.Context, v T) error {
		b.add(v)
		return nil
	})
	require.NoError(t, err)
	return b
}

// Three nodes in one room each send payloads of several types; every node,
// the sender included, handles each once, in order.
func TestSEThreeNodesExchangePayloads(t *testing.T) {
	r := newSERoom(t)
	nodes := []*socketscience.Node{r.node(t), r.node(t), r.node(t)}
	type got struct{ pings, notes *inbox[string] }
	boxes := make([]got, len(nodes))
	for i, n := range nodes {
		boxes[i] = got{handle[string](t, n, "ping"), handle[string](t, n, "note")}
	}
	for i, n := range nodes {
		for j := range 20 {
			p := socketscience.Payload{"ping": fmt.Sprintf("%d-%d", i, j)}
			if j%2 == 0 {
				p["note"] = fmt.Sprintf("%d-%d", i, j)
			}
			require.NoError(t, n.Send(context.Background(), p))
		}
	}
	for i := range nodes {
		require.Eventually(t, func() bool { return len(boxes[i].pings.all()) == 60 && len(boxes[i].notes.all()) == 30 },
			wait, time.Millisecond, "node %d", i)
		for from := range nodes {
			var seq []string
			for _, v := range boxes[i].pings.all() {
				if strings.HasPrefix(v, fmt.Sprint(from)+"-") {
					seq = append(seq, v)
				}
			}
			want := make([]string, 20)
			for j := range want {
				want[j] = fmt.Sprintf("%d-%d", from, j)
			}
			assert.Equal(t, want, seq, "node %d's pings from node %d", i, from)
		}
	}
}

type smokeyVector struct {
	Name    string         `json:"name"`
	Content string         `json:"content"`
	Payload map[string]any `json:"payload"`
}

func loadVectors(t *testing.T) []smokeyVector {
	raw, err := os.ReadFile("../messages/testdata/smokey-vectors.json")
	require.NoError(t, err)
	var file struct{ Vectors []smokeyVector }
	require.NoError(t, json.Unmarshal(raw, &file))
	return file.Vectors
}

// A frame exactly as SmokeDetector posts it, from the shared account,
// reaches the Go node's handlers; the same text from a stranger is dropped
// as untrusted.
func TestSESmokeDetectorFramesAndStrangers(t *testing.T) {
	r := newSERoom(t, sechattest.WithZeroWidth(true))
	n := r.node(t)
	var v smokeyVector
	for _, x := range loadVectors(t) {
		if x.Name == "two types in one payload" {
			v = x
		}
	}
	require.NotEmpty(t, v.Content)
	type ping struct {
		Location string  `json:"location"`
		Time     float64 `json:"time"`
	}
	pings, states := handle[ping](t, n, "ping"), handle[string](t, n, "metasmoke_state")

	_, err := r.srv.Say(r.room.ID, r.stranger.ID, v.Content)
	require.NoError(t, err)
	_, err = r.srv.Say(r.room.ID, r.bot.ID, v.Content)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(pings.all()) == 1 && len(states.all()) == 1 }, wait, time.Millisecond)
	assert.Equal(t, ping{Location: "a", Time: 1}, pings.all()[0])
	assert.Equal(t, "down", states.all()[0])
	require.Eventually(t, func() bool { return n.Stats().Dropped["untrusted"] == 1 }, wait, time.Millisecond)
	assert.Len(t, pings.all(), 1, "the stranger's copy was not handled")
}

// A 20 KB payload arrives whole: the adapter reads the plain source, not
// the event's HTML, which the server truncates for long messages.
func TestSELargePayloadThroughPlainSource(t *testing.T) {
	r := newSERoom(t, sechattest.WithPartialThreshold(500))
	a, b := r.node(t), r.node(t)
	blobs := handle[string](t, b, "blob")
	big := strings.Repeat("0123456789abcdef", 20<<10/16)
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"blob": big}))
	require.Eventually(t, func() bool { return len(blobs.all()) == 1 }, wait, time.Millisecond)
	assert.Equal(t, big, blobs.all()[0])
	assert.Positive(t, r.srv.Requests("/message/"), "plain sources were fetched")
}

// Posts answered 409 are retried after the wait the server names, and
// arrive.
func TestSEThrottledPostsArrive(t *testing.T) {
	r := newSERoom(t)
	a, b := r.node(t), r.node(t)
	notes := handle[int](t, b, "n")
	r.srv.ThrottleNext(2, 1)
	for i := range 3 {
		require.NoError(t, a.Send(context.Background(), socketscience.Payload{"n": i}))
	}
	require.Eventually(t, func() bool { return len(notes.all()) == 3 }, wait, time.Millisecond)
	assert.Equal(t, []int{0, 1, 2}, notes.all())
}

// A socket that goes quiet without dying (the server drops its frames for a
// while) misses events; the adapter notices the gap when frames resume and
// reconnects, and the new socket replays what was missed.
func TestSESilenceLosesNothing(t *testing.T) {
	for _, long := range []bool{false, true} {
		t.Run(fmt.Sprintf("past the liveness deadline=%v", long), func(t *testing.T) {
			r := newSERoom(t, sechattest.WithKeepAlive(50*time.Millisecond))
			node := func() *socketscience.Node {
				return r.nodeWith(t, func(c *sechat.Config) { c.LivenessTimeout = 400 * time.Millisecond }, nil, fastReconnect())
			}
			a, b := node(), node()
			got := handle[int](t, b, "n")
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			r.srv.Silence(true)
			require.NoError(t, a.Send(ctx, socketscience.Payload{"n": 1}))
			require.NoError(t, a.Flush(ctx))
			if long {
				require.Eventually(t, func() bool { return b.Stats().Reconnects >= 1 }, wait, time.Millisecond)
			}
			r.srv.Silence(false)
			require.NoError(t, a.Send(ctx, socketscience.Payload{"n": 2}))
			require.Eventually(t, func() bool { return len(got.all()) == 2 }, wait, time.Millisecond)
			assert.Equal(t, []int{1, 2}, got.all())
		})
	}
}
