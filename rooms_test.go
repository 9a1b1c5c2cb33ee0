package socketscience_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// twoRooms makes two memchat rooms, named "a" and "b".
func twoRooms() (a, b *memchat.Room) {
	return memchat.NewRoom(memchat.WithName("a")), memchat.NewRoom(memchat.WithName("b"))
}

// frames counts the frames posted in room.
func frames(room *memchat.Room) int {
	n := 0
	for _, e := range room.Transcript() {
		if messages.Classify(e.Text) == messages.KindFrame {
			n++
		}
	}
	return n
}

// A node in two rooms posts each payload in both (SendToEvery); a node in
// the same two rooms handles it once; stats and health tell each room.
func TestRoomsEveryRoomHandledOnce(t *testing.T) {
	a, b := twoRooms()
	sender := connected(t, a.Member(bot, "s"), socketscience.WithRooms(b.Member(bot, "s")))
	receiver := connected(t, a.Member(bot, "r"), socketscience.WithRooms(b.Member(bot, "r")))
	require.Eventually(t, func() bool { return !sender.Health().Degraded && !receiver.Health().Degraded }, wait, time.Millisecond)
	got := collect[int](t, receiver, "n")
	ctx := context.Background()
	for i := range 20 {
		require.NoError(t, sender.Send(ctx, socketscience.Payload{"n": i}))
	}
	require.NoError(t, sender.Flush(ctx))
	for i := range 20 {
		assert.Equal(t, i, receive(t, got))
	}
	require.Eventually(t, func() bool { return receiver.Stats().Duplicates >= 20 }, wait, time.Millisecond)
	select {
	case v := <-got:
		t.Fatalf("payload %d handled twice", v)
	default:
	}
	assert.Positive(t, frames(a))
	assert.Positive(t, frames(b))

	s := receiver.Stats()
	require.Len(t, s.Rooms, 2)
	assert.Equal(t, "a", s.Rooms[0].Room)
	assert.Equal(t, "b", s.Rooms[1].Room)
	assert.Equal(t, s.Rooms[0].Frames+s.Rooms[1].Frames, s.Frames)
	assert.Positive(t, s.Rooms[0].Frames)
	assert.Positive(t, s.Rooms[1].Frames)
	h := sender.Health()
	assert.True(t, h.Connected)
	assert.False(t, h.Degraded)
	require.Len(t, h.Rooms, 2)
	assert.Equal(t, 1, h.Rooms[1].Index)
	assert.Equal(t, "b", h.Rooms[1].Room)
	ss := sender.Stats()
	assert.Equal(t, ss.Rooms[0].Posted+ss.Rooms[1].Posted, ss.Posted)
}

// SendToFirstHealthy posts in the first connected room only, and moves to
// the next while it is down; state changes and health name the room.
func TestRoomsFirstHealthy(t *testing.T) {
	a, b := twoRooms()
	am := a.Member(bot, "s")
	changes := make(chan socketscience.StateChange, 20)
	sender := connected(t, am, socketscience.WithRooms(b.Member(bot, "s")), socketscience.WithSendPolicy(socketscience.SendToFirstHealthy()),
		socketscience.WithStateHandler(func(ctx context.Context, c socketscience.StateChange) { changes <- c }))
	require.Eventually(t, func() bool { return !sender.Health().Degraded }, wait, time.Millisecond)
	ctx := context.Background()
	require.NoError(t, sender.Send(ctx, socketscience.Payload{"n": 1}))
	require.NoError(t, sender.Flush(ctx))
	assert.Equal(t, 1, frames(a))
	assert.Zero(t, frames(b))

	am.FailDials(1000, nil)
	am.Break(nil)
	require.Eventually(t, func() bool { return sender.Health().Degraded }, wait, time.Millisecond)
	h := sender.Health()
	assert.True(t, h.Connected, "connected through b")
	assert.False(t, h.Rooms[0].Connected)
	assert.ErrorIs(t, h.Rooms[0].Err, memchat.ErrBroken)
	require.NoError(t, sender.Send(ctx, socketscience.Payload{"n": 2}))
	require.NoError(t, sender.Flush(ctx))
	assert.Equal(t, 1, frames(a))
	assert.Equal(t, 1, frames(b))

	var down socketscience.StateChange
	for down.Connected || down.Err == nil {
		down = receive(t, changes)
	}
	assert.Equal(t, 0, down.Room)
	assert.Equal(t, "a", down.RoomName)
}

// SendToK posts in k rooms; k is checked against the rooms there are.
func TestRoomsSendToK(t *testing.T) {
	rooms := []*memchat.Room{memchat.NewRoom(), memchat.NewRoom(), memchat.NewRoom()}
	sender := connected(t, rooms[0].Member(bot, "s"), socketscience.WithRooms(rooms[1].Member(bot, "s"), rooms[2].Member(bot, "s")),
		socketscience.WithSendPolicy(socketscience.SendToK(2)))
	require.Eventually(t, func() bool { return !sender.Health().Degraded }, wait, time.Millisecond)
	require.NoError(t, sender.Send(context.Background(), socketscience.Payload{"n": 1}))
	require.NoError(t, sender.Flush(context.Background()))
	require.Eventually(t, func() bool { return frames(rooms[0]) == 1 && frames(rooms[1]) == 1 }, wait, time.Millisecond)
	assert.Zero(t, frames(rooms[2]))
	assert.Zero(t, sender.Health().Rooms[2].Queued, "never queued there")

	for _, opts := range [][]socketscience.Option{
		{socketscience.WithSendPolicy(socketscience.SendToK(0))},
		{socketscience.WithSendPolicy(socketscience.SendToK(3)), socketscience.WithRooms(rooms[1].Member(bot, "x"))},
		{socketscience.WithRooms(nil)},
		{socketscience.WithReorderWait(0)},
	} {
		_, err := socketscience.New(rooms[0].Member(bot, "x"), opts...)
		assert.ErrorIs(t, err, socketscience.ErrInvalidOption)
	}
}

// A room whose queue is full never holds the others back: its copy is
// dropped, counted in its stats, and Send returns at once; Send waits only
// while no room can take the payload.
func TestRoomsFullRoomDropsItsCopy(t *testing.T) {
	a, b := twoRooms()
	am := a.Member(bot, "s")
	am.FailDials(1<<30, nil) // room a never connects: its queue fills
	bm := b.Member(bot, "s")
	sender := newNode(t, am, socketscience.WithRooms(bm), socketscience.WithQueueSize(2), socketscience.WithNonBlockingSend())
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, sender.WaitConnected(ctx))
	for i := range 5 {
		require.NoError(t, sender.Send(ctx, socketscience.Payload{"n": i}))
		require.NoError(t, sender.Flush(ctx), "b posted it")
	}
	s := sender.Stats()
	assert.Equal(t, int64(3), s.Rooms[0].Dropped[socketscience.DropRoomQueueFull])
	assert.Equal(t, int64(3), s.Dropped[socketscience.DropRoomQueueFull])
	assert.Equal(t, 2, sender.Health().Rooms[0].Queued)
	assert.Equal(t, int64(5), s.Rooms[1].Posted)

	// Both rooms full: nothing can take it.
	bm.FailPosts(1<<30, chatgateway.RetryAfter(time.Hour, errors.New("slow down")))
	require.NoError(t, sender.Send(ctx, socketscience.Payload{"n": 5}))
	require.NoError(t, sender.Send(ctx, socketscience.Payload{"n": 6}))
	assert.ErrorIs(t, sender.Send(ctx, socketscience.Payload{"n": 7}), socketscience.ErrQueueFull)

	// Close waits for them until its ctx ends, then abandons them.
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	assert.ErrorIs(t, sender.Close(short), context.DeadlineExceeded)
	assert.Equal(t, int64(2), sender.Stats().Rooms[1].Dropped[socketscience.DropAbandoned])
}

// Flush counts a payload delivered once any room posted it: a room that
// refuses every post (read-only) does not fail it; when every room drops
// it, Flush reports the drop, once.
func TestRoomsFlushDeliveredOnceAnyRoomPosted(t *testing.T) {
	a, b := twoRooms()
	am, bm := a.Member(bot, "s"), b.Member(bot, "s")
	sender := connected(t, am, socketscience.WithRooms(bm))
	require.Eventually(t, func() bool { return !sender.Health().Degraded }, wait, time.Millisecond)
	ctx := context.Background()
	am.FailPosts(1<<30, chatgateway.Rejected(errors.New("read-only")))
	require.NoError(t, sender.Send(ctx, socketscience.Payload{"n": 1}))
	require.NoError(t, sender.Flush(ctx), "room b posted it")
	require.Eventually(t, func() bool { return sender.Stats().Rooms[0].Dropped[socketscience.DropRejected] == 1 }, wait, time.Millisecond)

	bm.FailPosts(1<<30, chatgateway.Rejected(errors.New("read-only")))
	require.NoError(t, sender.Send(ctx, socketscience.Payload{"n": 2}))
	err := sender.Flush(ctx)
	require.ErrorIs(t, err, socketscience.ErrDropped)
	assert.ErrorContains(t, err, "1 rejected")
	require.NoError(t, sender.Flush(ctx), "each drop is reported once")
}

// Send blocks only while no room can take the payload, and ctx ends the
// wait.
func TestRoomsSendWaitsWhileEveryQueueIsFull(t *testing.T) {
	a, b := twoRooms()
	am, bm := a.Member(bot, "s"), b.Member(bot, "s")
	am.FailDials(1<<30, nil)
	bm.FailDials(1<<30, nil)
	sender := newNode(t, am, socketscience.WithRooms(bm), socketscience.WithQueueSize(1))
	ctx := context.Background()
	require.NoError(t, sender.Send(ctx, socketscience.Payload{"n": 1}))
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, sender.Send(short, socketscience.Payload{"n": 2}), context.DeadlineExceeded)

	done := make(chan error, 1)
	go func() { done <- sender.Send(ctx, socketscience.Payload{"n": 3}) }()
	bm.FailDials(0, nil)
	require.NoError(t, receive(t, done), "room b connected and posted: room again")
	h := sender.Health()
	assert.True(t, h.Connected)
	assert.True(t, h.Degraded)
}

// Once every room has failed for good, Flush (with payloads still queued),
// Send and WaitConnected say ErrStopped and Health says Stopped.
func TestRoomsAllStopped(t *testing.T) {
	a, b := twoRooms()
	am, bm := a.Member(bot, "s"), b.Member(bot, "s")
	am.FailDials(1<<30, nil)
	bm.FailDials(1<<30, nil)
	clock := fakeclock.New(time.Now())
	var logs logLines
	n := newNode(t, am, socketscience.WithRooms(bm), socketscience.WithLogger(zerolog.New(&logs)), socketscience.WithClock(clock))
	ctx := context.Background()
	require.NoError(t, n.Send(ctx, socketscience.Payload{"n": 1}), "queued while the rooms are down")
	banned := chatgateway.Permanent(errors.New("banned"))
	am.FailDials(1<<30, banned)
	bm.FailDials(1<<30, banned)
	require.Eventually(t, func() bool {
		clock.Advance(time.Minute) // the next redials
		return n.Health().Stopped
	}, wait, time.Millisecond)
	assert.ErrorIs(t, n.Flush(ctx), socketscience.ErrStopped)
	assert.ErrorIs(t, n.Send(ctx, socketscience.Payload{"n": 2}), socketscience.ErrStopped)
	assert.ErrorIs(t, n.WaitConnected(ctx), socketscience.ErrStopped)
	h := n.Health()
	assert.False(t, h.Connected)
	assert.ErrorContains(t, h.Err, "banned")
	assert.True(t, h.Rooms[0].Stopped && h.Rooms[1].Stopped)
	indexes := map[float64]bool{}
	for _, line := range logs.find(t, "connection failed for good; not reconnecting") {
		indexes[line["room_index"].(float64)] = true
	}
	assert.Equal(t, map[float64]bool{0: true, 1: true}, indexes, "each room's gateway logs its index")
}

// Close waits for what any room posts, then stops every room: a copy still
// queued in a dead room is abandoned, counted in that room's stats, and
// Close reports no error, as the payload was delivered.
func TestRoomsCloseAbandonsCopiesInDeadRooms(t *testing.T) {
	a, b := twoRooms()
	am := a.Member(bot, "s")
	am.FailDials(1<<30, nil)
	n, err := socketscience.New(am, socketscience.WithRooms(b.Member(bot, "s")))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, n.WaitConnected(ctx))
	require.NoError(t, n.Send(ctx, socketscience.Payload{"n": 1}))
	require.NoError(t, n.Close(ctx))
	s := n.Stats()
	assert.Equal(t, int64(1), s.Rooms[0].Dropped[socketscience.DropAbandoned])
	assert.Equal(t, int64(1), s.Rooms[1].Posted)
	assert.Equal(t, 1, frames(b))
}
