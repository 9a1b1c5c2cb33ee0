package test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lastFrame is the text of the newest frame in the room's transcript.
func lastFrame(t *testing.T, room *memchat.Room) string {
	t.Helper()
	entries := room.Transcript()
	for i := len(entries) - 1; i >= 0; i-- {
		if messages.Classify(entries[i].Text) == messages.KindFrame {
			return entries[i].Text
		}
	}
	t.Fatal("no frame in the room")
	return ""
}

// A node restarted with the same node id, on a clock that is now behind
// its previous start, is heard: sequence numbers do not depend on the wall
// clock going forward across restarts.
func TestAttackRestartSameNodeIDClockBehind(t *testing.T) {
	room := memchat.NewRoom()
	receiver := connect(t, room, "receiver")
	got := collectInts(t, receiver, "n")

	start := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	first := connect(t, room, "first", socketscience.WithNodeID("alpha"), socketscience.WithClock(fakeclock.New(start)))
	for i := range 3 {
		require.NoError(t, first.Send(context.Background(), socketscience.Payload{"n": i}))
	}
	for i := range 3 {
		assert.Equal(t, i, receiveInt(t, got))
	}
	closeNodes(t, first)

	// The host's clock was stepped back a minute before the restart.
	second := connect(t, room, "second", socketscience.WithNodeID("alpha"), socketscience.WithClock(fakeclock.New(start.Add(-time.Minute))))
	require.NoError(t, second.Send(context.Background(), socketscience.Payload{"n": 3}))
	assert.Equal(t, 3, receiveInt(t, got), "the restarted node's payload is handled")
	assert.Zero(t, receiver.Stats().Duplicates)
	closeNodes(t, second, receiver)
}

// With signing on, a frame replayed to a node that has restarted since it
// was handled is not handled again.
func TestAttackSignedReplayAfterRestart(t *testing.T) {
	secret := socketscience.WithSecret([]byte("shared by the bot's Go nodes"))
	room := memchat.NewRoom()
	sender := connect(t, room, "sender", secret)
	receiver := connect(t, room, "receiver", secret)
	got := collectInts(t, receiver, "n")
	require.NoError(t, sender.Send(context.Background(), socketscience.Payload{"n": 1}))
	assert.Equal(t, 1, receiveInt(t, got))
	frame := lastFrame(t, room)
	closeNodes(t, receiver)

	restarted := connect(t, room, "receiver", secret)
	again := collectInts(t, restarted, "n")
	room.Say(bot, frame) // the bot's account, or anyone who can post as it
	require.NoError(t, sender.Send(context.Background(), socketscience.Payload{"n": 2}))
	assert.Equal(t, 2, receiveInt(t, again), "the replay is dropped, the new payload handled")
	assert.Equal(t, int64(1), restarted.Stats().Dropped["stale"], "the replay is counted")
	closeNodes(t, sender, restarted)
}

// With signing on, a frame copied from one room into another is not
// accepted there, even when the account that copies it is trusted in both.
func TestAttackSignedFrameCopiedToAnotherRoom(t *testing.T) {
	secret := socketscience.WithSecret([]byte("shared by the bot's Go nodes"))
	ops, lobby := memchat.NewRoom(memchat.WithName("ops")), memchat.NewRoom(memchat.WithName("lobby"))
	sender := connect(t, ops, "sender", secret)
	receiver := connect(t, lobby, "receiver", secret)
	got := collectInts(t, receiver, "n")
	require.NoError(t, sender.Send(context.Background(), socketscience.Payload{"n": 1}))
	_, err := ops.WaitFor(context.Background(), func(e []memchat.Entry) bool { return len(e) > 0 })
	require.NoError(t, err)
	lobby.Say(bot, lastFrame(t, ops))
	lobby.Say(bot, "the end")
	require.Eventually(t, func() bool { return receiver.Stats().Dropped["bad_signature"] == 1 }, wait, time.Millisecond)
	select {
	case n := <-got:
		t.Fatalf("the copied frame was handled: %d", n)
	default:
	}
	closeNodes(t, sender, receiver)
}

// Dedup and the handlers' Sender keep small copies of node ids, never views
// that pin whole frames: 40 frames of 500 KB from distinct node ids leave
// little behind once handled.
func TestAttackDedupDoesNotPinFrames(t *testing.T) {
	feed := make(chan messages.ChatMessage)
	receiver, err := socketscience.New(chatgateway.DialerFunc(func(ctx context.Context) (chatgateway.Conn, error) {
		return &feedConn{feed: feed, closed: make(chan struct{})}, nil
	}))
	require.NoError(t, err)
	var senders []string
	done := make(chan struct{}, 40)
	_, err = receiver.Register("blob", func(ctx context.Context, m socketscience.Message) error {
		senders = append(senders, m.Sender.NodeID) // kept, as a handler might
		done <- struct{}{}
		return nil
	})
	require.NoError(t, err)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range 40 {
		frame, err := messages.EncodeFrame(messages.Payload{"blob": strings.Repeat("x", 500<<10)},
			&messages.Envelope{Node: fmt.Sprintf("node-%02d", i), Seq: 1, Time: time.Now().UnixMilli()})
		require.NoError(t, err)
		feed <- messages.ChatMessage{ID: int64(i + 1), UserID: bot.UserID, Text: frame}
		<-done
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	assert.Less(t, growth, int64(4<<20), "heap grew %d bytes", growth)
	assert.Len(t, senders, 40)
	closeNodes(t, receiver)
}

// feedConn reads what the test feeds it, as the bot's account; posts go
// nowhere.
type feedConn struct {
	feed   chan messages.ChatMessage
	closed chan struct{}
	once   sync.Once
}

func (c *feedConn) Read() (messages.ChatMessage, error) {
	select {
	case m := <-c.feed:
		return m, nil
	case <-c.closed:
		return messages.ChatMessage{}, chatgateway.ErrConnClosed
	}
}

func (c *feedConn) Post(ctx context.Context, text string) (int64, error) { return 0, nil }
func (c *feedConn) Identity() chatgateway.Identity                       { return bot }
func (c *feedConn) Limits() chatgateway.Limits                           { return chatgateway.Limits{} }
func (c *feedConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func collectInts(t *testing.T, n *socketscience.Node, typ string) <-chan int {
	t.Helper()
	ch := make(chan int, 100)
	_, err := socketscience.Handle(n, typ, func(ctx context.Context, v int) error {
		ch <- v
		return nil
	})
	require.NoError(t, err)
	return ch
}

func receiveInt(t *testing.T, ch <-chan int) int {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatal("nothing received")
		return 0
	}
}
