package test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/gateway"
	"github.com/socketscience/socketscience/chatgateway/ircws"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/chatgateway/sechat"
	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
	"github.com/socketscience/socketscience/messages"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fault is what is wrong with a room, for every connection to it.
type fault int32

const (
	healthy   fault = iota
	killed          // connections drop, dials fail: the room (or its network) is down
	silenced        // posts vanish and nothing is read: a frozen room, a dead socket not yet noticed
	throttled       // every post is told to retry later: an account throttled
	readOnly        // every post is refused: the server is in read-only mode
)

var faults = map[string]fault{"killed": killed, "silenced": silenced, "throttled": throttled, "read-only": readOnly}

// errRoomDown is a killed room's dial error.
var errRoomDown = errors.New("room is down")

// roomFault switches a fault on for every connection made through the
// dialers it wraps: the sender's and the receiver's, as a room's trouble
// hits everyone in it.
type roomFault struct {
	mode  atomic.Int32
	mu    sync.Mutex
	conns []chatgateway.Conn
}

func (f *roomFault) set(m fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode.Store(int32(m))
	if m != killed {
		return
	}
	for _, c := range f.conns {
		_ = c.Close()
	}
}

func (f *roomFault) is(m fault) bool { return fault(f.mode.Load()) == m }

func (f *roomFault) wrap(d chatgateway.Dialer) chatgateway.Dialer {
	return chatgateway.DialerFunc(func(ctx context.Context) (chatgateway.Conn, error) {
		if f.is(killed) {
			return nil, errRoomDown
		}
		c, err := d.Dial(ctx)
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.is(killed) { // killed while this dial was under way
			_ = c.Close()
			return nil, errRoomDown
		}
		f.conns = append(f.conns, c)
		return &faultyConn{Conn: c, f: f}, nil
	})
}

type faultyConn struct {
	chatgateway.Conn
	f *roomFault
}

func (c *faultyConn) Read() (messages.ChatMessage, error) {
	for {
		m, err := c.Conn.Read()
		if err != nil || !c.f.is(silenced) {
			return m, err
		}
	}
}

func (c *faultyConn) Post(ctx context.Context, text string) (int64, error) {
	switch fault(c.f.mode.Load()) {
	case silenced:
		return 0, nil
	case throttled:
		return 0, chatgateway.RetryAfter(time.Second, errors.New("you can perform this action again in 1 second"))
	case readOnly:
		return 0, chatgateway.Rejected(errors.New("this room is in read-only mode"))
	}
	return c.Conn.Post(ctx, text)
}

// roomKit makes rooms on one kind of server: start runs the server, once
// for all the subtests of t, and returns rooms, which makes n rooms named
// by tag and returns dial(room, node), node's (0: sender, 1: receiver)
// dialer for each, and the options the nodes need there.
type roomKit struct {
	name  string
	start func(t *testing.T) (rooms func(t *testing.T, n int, tag string) (dial func(room, node int) chatgateway.Dialer, opts []socketscience.Option))
}

type roomsFunc = func(t *testing.T, n int, tag string) (func(room, node int) chatgateway.Dialer, []socketscience.Option)

var roomKits = []roomKit{
	{"memchat", func(*testing.T) roomsFunc {
		return func(t *testing.T, n int, tag string) (func(int, int) chatgateway.Dialer, []socketscience.Option) {
			rs := make([]*memchat.Room, n)
			for i := range rs {
				rs[i] = memchat.NewRoom(memchat.WithName(fmt.Sprintf("%s-%d", tag, i)))
			}
			return func(room, node int) chatgateway.Dialer { return rs[room].Member(bot, fmt.Sprint(node)) }, nil
		}
	}},
	{"sechattest", func(t *testing.T) roomsFunc {
		srv := sechattest.NewServer()
		t.Cleanup(srv.Close)
		srv.AddUser("SmokeDetector", "smokey@example.com", "secret")
		return func(t *testing.T, n int, tag string) (func(int, int) chatgateway.Dialer, []socketscience.Option) {
			ids := make([]int64, n)
			for i := range ids {
				ids[i] = srv.AddRoom(fmt.Sprintf("%s-%d", tag, i)).ID
			}
			return func(room, node int) chatgateway.Dialer {
				c, err := sechat.NewClient(sechat.Config{BaseURL: srv.URL, Email: "smokey@example.com", Password: "secret"})
				require.NoError(t, err)
				return c.Room(ids[room])
			}, nil
		}
	}},
	{"inspircd", func(t *testing.T) roomsFunc {
		srv := startIRCd(t)
		var seq atomic.Int64
		return func(t *testing.T, n int, _ string) (func(int, int) chatgateway.Dialer, []socketscience.Option) {
			run := seq.Add(1) // channels and nicks of their own for each subtest
			nick := func(room, node int) string { return fmt.Sprintf("t%d-n%d-r%d", run, node, room) }
			var nicks []string
			for room := range n {
				for node := range 2 {
					nicks = append(nicks, nick(room, node))
				}
			}
			return func(room, node int) chatgateway.Dialer {
				d, err := ircws.NewDialer(ircws.Config{URL: srv.wsURL(), Channel: fmt.Sprintf("#t%d-room-%d", run, room), Nick: nick(room, node)})
				require.NoError(t, err)
				return d
			}, []socketscience.Option{socketscience.WithTrustedAccounts(ircws.TrustedAccounts(0, nicks...)...)}
		}
	}},
}

// roomsReconnect redials a killed room every few milliseconds, not every
// one: a down room must not cost a core.
func roomsReconnect() socketscience.Option {
	p := gateway.DefaultReconnectPolicy()
	p.Backoff.Initial, p.Backoff.Max = 5*time.Millisecond, 50*time.Millisecond
	return socketscience.WithReconnectPolicy(p)
}

// roomNodes starts a sender and a receiver, each in every room, through
// the faults' switches, and waits until both are connected to all rooms.
func roomNodes(t *testing.T, makeRooms roomsFunc, rooms int, opts ...socketscience.Option) (sender, receiver *socketscience.Node, f []*roomFault) {
	t.Helper()
	dial, kitOpts := makeRooms(t, rooms, fmt.Sprintf("r%d", rooms))
	f = make([]*roomFault, rooms)
	for i := range f {
		f[i] = new(roomFault)
	}
	nodes := make([]*socketscience.Node, 2)
	for node := range nodes {
		var more []chatgateway.Dialer
		for room := 1; room < rooms; room++ {
			more = append(more, f[room].wrap(dial(room, node)))
		}
		all := append(append([]socketscience.Option{socketscience.WithRooms(more...), roomsReconnect()}, kitOpts...), opts...)
		n, err := socketscience.New(f[0].wrap(dial(0, node)), all...)
		require.NoError(t, err)
		t.Cleanup(func() { closeNodes(t, n) })
		nodes[node] = n
	}
	require.Eventually(t, func() bool {
		for _, n := range nodes {
			if h := n.Health(); !h.Connected || h.Degraded {
				return false
			}
		}
		return true
	}, 30*time.Second, time.Millisecond, "every room connected")
	return nodes[0], nodes[1], f
}

// The scenario on each kind of server, with two rooms and with
// three: payloads flow while one room is killed, silenced, throttled or
// made read-only (with three rooms, a second room goes the same way
// later); every payload is handled exactly once by the receiver, in
// order, as long as one room lives. Payload i has type t(i%5), so that a
// burst of five merges into one post (as on a real server under its rate
// limit), and each type's handler sees its payloads in the order sent.
func TestRoomsFaultsLoseNothing(t *testing.T) {
	const total, types = 30, 5
	for _, kit := range roomKits {
		t.Run(kit.name, func(t *testing.T) {
			makeRooms := kit.start(t)
			for _, rooms := range []int{2, 3} {
				for name, mode := range faults {
					t.Run(fmt.Sprintf("%d rooms, %s", rooms, name), func(t *testing.T) {
						sender, receiver, f := roomNodes(t, makeRooms, rooms)
						got := make([]*inbox[int], types)
						for i := range got {
							got[i] = handle[int](t, receiver, fmt.Sprintf("t%d", i))
						}
						count := func() (n int) {
							for _, g := range got {
								n += len(g.all())
							}
							return n
						}
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						defer cancel()
						for i := range total {
							switch {
							case i == 10:
								f[0].set(mode)
							case i == 20 && rooms == 3:
								f[1].set(mode)
							}
							require.NoError(t, sender.Send(ctx, socketscience.Payload{fmt.Sprintf("t%d", i%types): i}))
							if (i+1)%types == 0 {
								require.Eventually(t, func() bool { return count() >= i+1 }, 30*time.Second, time.Millisecond, "payloads up to %d", i)
							}
						}
						require.NoError(t, sender.Flush(ctx), "every payload was posted by a live room")
						// The receiver has read every copy the live rooms carried:
						// none of them may show.
						live := rooms - 1
						if rooms == 3 {
							live = rooms - 2
						}
						require.Eventually(t, func() bool {
							ss, rs := sender.Stats(), receiver.Stats()
							for r := rooms - live; r < rooms; r++ {
								if rs.Rooms[r].Frames < ss.Rooms[r].Posted {
									return false
								}
							}
							return true
						}, wait, time.Millisecond)
						for k, g := range got {
							var want []int
							for i := k; i < total; i += types {
								want = append(want, i)
							}
							assert.Equal(t, want, g.all(), "type t%d: each payload once, in order", k)
						}
						s := receiver.Stats()
						assert.Zero(t, s.ReorderGaps)
						assert.Equal(t, int64(total), s.Delivered)
						h := sender.Health()
						assert.True(t, h.Connected)
						if mode == killed {
							require.Eventually(t, func() bool { h := sender.Health(); return h.Degraded && !h.Rooms[0].Connected }, wait, time.Millisecond, "%+v", sender.Health())
						}
					})
				}
			}
		})
	}
}

// SmokeDetector posts each frame (no envelope) to every room with its
// "direct" role: a node in two of them handles it once; the same frame
// posted again in one room is a new payload, handled again.
func TestRoomsSmokeDetectorFramesHandledOnce(t *testing.T) {
	srv := sechattest.NewServer()
	t.Cleanup(srv.Close)
	smokey := srv.AddUser("SmokeDetector", "smokey@example.com", "secret")
	a, b := srv.AddRoom("Charcoal HQ"), srv.AddRoom("SOBotics")
	client := func() *sechat.Client {
		c, err := sechat.NewClient(sechat.Config{BaseURL: srv.URL, Email: "smokey@example.com", Password: "secret"})
		require.NoError(t, err)
		return c
	}
	n, err := socketscience.New(client().Room(a.ID), socketscience.WithRooms(client().Room(b.ID)))
	require.NoError(t, err)
	t.Cleanup(func() { closeNodes(t, n) })
	require.Eventually(t, func() bool { h := n.Health(); return h.Connected && !h.Degraded }, wait, time.Millisecond)
	got := handle[map[string]any](t, n, "beverage")

	frame, err := messages.Encode(messages.Payload{"beverage": map[string]any{"message_id": 1, "beverage_type": "coffee"}})
	require.NoError(t, err)
	for _, room := range []int64{a.ID, b.ID} {
		_, err := srv.Say(room, smokey.ID, frame)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return n.Stats().Duplicates == 1 }, wait, time.Millisecond)
	assert.Len(t, got.all(), 1)

	_, err = srv.Say(a.ID, smokey.ID, frame)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(got.all()) == 2 }, wait, time.Millisecond, "a repeat in one room is a new payload")
	_, err = srv.Say(b.ID, smokey.ID, frame)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return n.Stats().Duplicates == 2 }, wait, time.Millisecond)
	assert.Len(t, got.all(), 2)
	assert.Equal(t, "coffee", got.all()[1]["beverage_type"])
}

// Rooms on two networks: one Stack Exchange chat server dies outright
// (its sockets and HTTP gone, not a simulated fault); the other carries
// every payload.
func TestRoomsNetworkDies(t *testing.T) {
	servers := []*sechattest.Server{sechattest.NewServer(), sechattest.NewServer()}
	var dialers [2][]chatgateway.Dialer
	for _, srv := range servers {
		t.Cleanup(srv.Close)
		srv.AddUser("SmokeDetector", "smokey@example.com", "secret")
		room := srv.AddRoom("bots")
		for node := range dialers {
			c, err := sechat.NewClient(sechat.Config{BaseURL: srv.URL, Email: "smokey@example.com", Password: "secret"})
			require.NoError(t, err)
			dialers[node] = append(dialers[node], c.Room(room.ID))
		}
	}
	var nodes []*socketscience.Node
	for _, ds := range dialers {
		n, err := socketscience.New(ds[0], socketscience.WithRooms(ds[1]), fastReconnect())
		require.NoError(t, err)
		t.Cleanup(func() { closeNodes(t, n) })
		nodes = append(nodes, n)
	}
	sender, receiver := nodes[0], nodes[1]
	for _, n := range nodes {
		require.Eventually(t, func() bool { h := n.Health(); return h.Connected && !h.Degraded }, wait, time.Millisecond)
	}
	got := handle[int](t, receiver, "n")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for i := range 20 {
		if i == 7 {
			servers[0].Close()
		}
		require.NoError(t, sender.Send(ctx, socketscience.Payload{"n": i}))
	}
	require.NoError(t, sender.Flush(ctx))
	require.Eventually(t, func() bool { return len(got.all()) == 20 }, wait, time.Millisecond, "got %v", got.all())
	assert.True(t, slices.IsSorted(got.all()))
	// The sender's posts there fail: it knows the room is down.
	require.Eventually(t, func() bool { return sender.Health().Degraded }, wait, time.Millisecond, "%+v", sender.Health())
	assert.False(t, sender.Health().Rooms[0].Connected)
	assert.Positive(t, sender.Stats().Rooms[1].Posted)
}
