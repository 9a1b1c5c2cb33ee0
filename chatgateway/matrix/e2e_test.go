package matrix_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/matrix"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor"
)

var bots = []string{"@bot-a:localhost", "@bot-b:localhost", "@bot-c:localhost"}

// newNode runs a node on d that trusts the three bots, redials quickly and
// logs warnings to the test.
func newNode(t *testing.T, d chatgateway.Dialer, opts ...socketscience.Option) *socketscience.Node {
	t.Helper()
	p := supervisor.DefaultPolicy()
	p.MaxFailures = 0
	p.Backoff.Initial, p.Backoff.Max = 20*time.Millisecond, 200*time.Millisecond
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	opts = append([]socketscience.Option{socketscience.WithTrustedAccounts(bots...), socketscience.WithReconnectPolicy(p),
		socketscience.WithLogger(log)}, opts...)
	n, err := socketscience.New(d, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		assert.NoError(t, n.Close(ctx))
	})
	return n
}

func waitConnected(t *testing.T, nodes ...*socketscience.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, n := range nodes {
		require.NoError(t, n.WaitConnected(ctx))
	}
}

type inbox[T any] struct {
	mu  sync.Mutex
	got []T
}

func (b *inbox[T]) all() []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got)
}

func handle[T any](t *testing.T, n *socketscience.Node, typ string) *inbox[T] {
	t.Helper()
	b := &inbox[T]{}
	_, err := socketscience.Handle(n, typ, func(_ context.Context, v T) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.got = append(b.got, v)
		return nil
	})
	require.NoError(t, err)
	return b
}

type note struct {
	From string `msgpack:"from"`
	N    int    `msgpack:"n"`
}

// joined logs localpart in with a bare client and joins room.
func joined(t *testing.T, localpart string, room id.RoomID) *mautrix.Client {
	t.Helper()
	cli := login(t, localpart)
	_, err := cli.JoinRoom(context.Background(), string(room), nil)
	require.NoError(t, err)
	return cli
}

// bodies returns the bodies of the room's last (up to 1000) messages,
// oldest first, as cli reads the room's history.
func bodies(t *testing.T, cli *mautrix.Client, room id.RoomID) []string {
	t.Helper()
	resp, err := cli.Messages(context.Background(), room, "", "", mautrix.DirectionBackward, nil, 1000)
	require.NoError(t, err)
	var out []string
	for _, ev := range slices.Backward(resp.Chunk) {
		if m, ok := matrix.ChatMessage(ev, room); ok {
			out = append(out, m.Text)
		}
	}
	return out
}

// Three nodes in one room of a real Dendrite exchange payloads of several
// types, one larger than an event as fragments; a stranger in the room
// posts a copy of a bot's frame and a frame of its own, and every node
// drops both as untrusted.
func TestThreeNodes(t *testing.T) {
	needServer(t)
	room, alias := newRoom(t)
	var nodes []*socketscience.Node
	for _, lp := range []string{"bot-a", "bot-b", "bot-c"} {
		nodes = append(nodes, newNode(t, newDialer(t, srv.URL(), lp, alias), socketscience.WithoutSelfDelivery()))
	}
	waitConnected(t, nodes...)
	type boxes struct {
		pings *inbox[string]
		notes *inbox[note]
		blobs *inbox[string]
	}
	got := make([]boxes, len(nodes))
	for i, n := range nodes {
		got[i] = boxes{handle[string](t, n, "ping"), handle[note](t, n, "note"), handle[string](t, n, "blob")}
	}
	stranger := joined(t, "stranger", room)

	raw := make([]byte, 60<<10)
	_, _ = rand.Read(raw)
	blob := hex.EncodeToString(raw) // 120 KB: two events' worth and more
	for i, n := range nodes {
		require.NoError(t, n.Send(context.Background(), socketscience.Payload{"ping": bots[i], "note": note{bots[i], i}}))
	}
	require.NoError(t, nodes[0].Send(context.Background(), socketscience.Payload{"blob": blob}))

	// The stranger copies bot-b's frame byte for byte, and posts its own.
	var copied string
	require.Eventually(t, func() bool {
		for _, b := range bodies(t, stranger, room) {
			if messages.Classify(b) == messages.KindFrame {
				copied = b
			}
		}
		return copied != ""
	}, wait, 50*time.Millisecond)
	own, err := messages.EncodeFrame(messages.Payload{"ping": "from a stranger"}, &messages.Envelope{Node: "stranger", Seq: 1, Time: time.Now().UnixMilli()})
	require.NoError(t, err)
	for _, text := range []string{copied, own} {
		_, err := stranger.SendMessageEvent(context.Background(), room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgNotice, Body: text})
		require.NoError(t, err)
	}

	for i := range nodes {
		require.Eventually(t, func() bool {
			return len(got[i].pings.all()) == 2 && len(got[i].notes.all()) == 2 && nodes[i].Stats().Dropped[socketscience.DropUntrusted] == 2
		}, wait, 20*time.Millisecond, "node %d: %v", i, nodes[i].Stats())
		var want []string
		var wantNotes []note
		for j := range nodes {
			if j != i {
				want, wantNotes = append(want, bots[j]), append(wantNotes, note{bots[j], j})
			}
		}
		assert.ElementsMatch(t, want, got[i].pings.all(), "node %d: nothing of the stranger's", i)
		assert.ElementsMatch(t, wantNotes, got[i].notes.all())
	}
	for i := 1; i < len(nodes); i++ {
		require.Eventually(t, func() bool { return len(got[i].blobs.all()) == 1 }, wait, 20*time.Millisecond)
		assert.Equal(t, blob, got[i].blobs.all()[0])
	}
	assert.GreaterOrEqual(t, nodes[0].Stats().Posted, int64(1+3), "the blob went as fragments")
	fragments := 0
	for _, b := range bodies(t, stranger, room) {
		if messages.Classify(b) == messages.KindFragment {
			fragments++
		}
	}
	assert.GreaterOrEqual(t, fragments, 2, "the room holds the blob's fragments")
}
