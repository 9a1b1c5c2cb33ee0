package memchat_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/messages"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	smokey = chatgateway.Identity{UserID: 120914, UserName: "SmokeDetector"}
	alice  = chatgateway.Identity{UserID: 1, UserName: "alice"}
)

// waitLimit bounds every blocking step so a bug fails the test instead of
// hanging it.
const waitLimit = 5 * time.Second

func dial(t *testing.T, m *memchat.Member) chatgateway.Conn {
	t.Helper()
	c, err := m.Dial(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

type readResult struct {
	msg messages.ChatMessage
	err error
}

// read calls c.Read with a deadline; on timeout it closes c, which unblocks
// the Read, so no goroutine outlives the test.
func read(t *testing.T, c chatgateway.Conn) (messages.ChatMessage, error) {
	t.Helper()
	ch := make(chan readResult, 1)
	go func() {
		msg, err := c.Read()
		ch <- readResult{msg, err}
	}()
	select {
	case r := <-ch:
		return r.msg, r.err
	case <-time.After(waitLimit):
		_ = c.Close()
		<-ch
		t.Fatal("Read did not return")
		return messages.ChatMessage{}, nil
	}
}

func mustRead(t *testing.T, c chatgateway.Conn) messages.ChatMessage {
	t.Helper()
	msg, err := read(t, c)
	require.NoError(t, err)
	return msg
}

func post(t *testing.T, c chatgateway.Conn, text string) int64 {
	t.Helper()
	id, err := c.Post(context.Background(), text)
	require.NoError(t, err)
	return id
}

func TestEchoToSelf(t *testing.T) {
	room := memchat.NewRoom(memchat.WithName("lobby"))
	c := dial(t, room.Member(smokey, "ny"))
	want := smokey
	want.Room = "lobby"
	assert.Equal(t, want, c.Identity(), "the member's account, in the room it joined")

	before := time.Now()
	id := post(t, c, "hello")
	assert.Equal(t, int64(1), id)

	msg := mustRead(t, c)
	assert.Equal(t, int64(1), msg.ID)
	assert.Equal(t, smokey.UserID, msg.UserID)
	assert.Equal(t, smokey.UserName, msg.UserName)
	assert.Equal(t, "hello", msg.Text)
	assert.False(t, msg.Edited)
	assert.False(t, msg.Time.Before(before))

	tr := room.Transcript()
	require.Len(t, tr, 1)
	assert.Equal(t, "ny", tr[0].Via)
	assert.Equal(t, msg, tr[0].ChatMessage)
}

func TestFanOutSharedAccount(t *testing.T) {
	room := memchat.NewRoom()
	ny := dial(t, room.Member(smokey, "ny"))
	ldn := dial(t, room.Member(smokey, "ldn"))
	human := dial(t, room.Member(alice, "browser"))

	post(t, ldn, "from ldn")
	for _, c := range []chatgateway.Conn{ny, ldn, human} {
		msg := mustRead(t, c)
		assert.Equal(t, int64(1), msg.ID)
		assert.Equal(t, smokey.UserID, msg.UserID)
		assert.Equal(t, "from ldn", msg.Text)
	}
	assert.Equal(t, "ldn", room.Transcript()[0].Via)
}

func TestOrderPreservedPerRoom(t *testing.T) {
	room := memchat.NewRoom()
	a := dial(t, room.Member(smokey, "a"))
	b := dial(t, room.Member(alice, "b"))
	for i := range 10 {
		c := a
		if i%2 == 1 {
			c = b
		}
		assert.Equal(t, int64(i+1), post(t, c, fmt.Sprint(i)))
	}
	room.Say(alice, "said")
	for _, c := range []chatgateway.Conn{a, b} {
		for i := range 11 {
			assert.Equal(t, int64(i+1), mustRead(t, c).ID)
		}
	}
}

func TestSayAndEdit(t *testing.T) {
	room := memchat.NewRoom()
	c := dial(t, room.Member(smokey, "ny"))

	id := room.Say(alice, "!!/coffee")
	assert.Equal(t, int64(1), id)
	msg := mustRead(t, c)
	assert.Equal(t, alice.UserID, msg.UserID)
	assert.Equal(t, alice.UserName, msg.UserName)
	assert.Equal(t, "!!/coffee", msg.Text)

	require.NoError(t, room.Edit(id, "!!/tea"))
	edit := mustRead(t, c)
	assert.Equal(t, id, edit.ID)
	assert.True(t, edit.Edited)
	assert.Equal(t, "!!/tea", edit.Text)
	assert.Equal(t, alice.UserID, edit.UserID)

	tr := room.Transcript()
	require.Len(t, tr, 1, "an edit updates its entry in place")
	assert.Equal(t, "", tr[0].Via)
	assert.Equal(t, "!!/tea", tr[0].Text)
	assert.True(t, tr[0].Edited)

	assert.ErrorIs(t, room.Edit(2, "x"), memchat.ErrUnknownMessage)
	assert.ErrorIs(t, room.Edit(0, "x"), memchat.ErrUnknownMessage)
}

func TestTranscriptIsACopy(t *testing.T) {
	room := memchat.NewRoom()
	room.Say(alice, "a")
	tr := room.Transcript()
	tr[0].Text = "changed"
	assert.Equal(t, "a", room.Transcript()[0].Text)
}

func TestBreak(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		err  error
		is   []error
	}{
		{"nil", nil, []error{memchat.ErrBroken}},
		{"given", boom, []error{memchat.ErrBroken, boom}},
		{"permanent", chatgateway.Permanent(boom), []error{memchat.ErrBroken, boom, chatgateway.ErrPermanent}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			room := memchat.NewRoom()
			m := room.Member(smokey, "ny")
			other := dial(t, room.Member(alice, "browser"))
			c := dial(t, m)

			room.Say(alice, "queued, never read")
			m.Break(tc.err)
			_, err := read(t, c)
			for _, want := range tc.is {
				assert.ErrorIs(t, err, want)
			}
			_, err = read(t, c)
			assert.Error(t, err, "a broken conn stays dead")
			_, err = c.Post(context.Background(), "x")
			for _, want := range tc.is {
				assert.ErrorIs(t, err, want)
			}

			room.Say(alice, "while down") // ID 2, missed by m
			c2 := dial(t, m)
			assert.Equal(t, 2, m.Dials())
			id := post(t, c2, "back")
			msg := mustRead(t, c2)
			assert.Equal(t, id, msg.ID)
			assert.Equal(t, "back", msg.Text, "a new conn gets later messages only")

			// The rest of the room carried on regardless.
			for _, want := range []string{"queued, never read", "while down", "back"} {
				assert.Equal(t, want, mustRead(t, other).Text)
			}
		})
	}
}

func TestBreakWithoutLiveConnIsNoop(t *testing.T) {
	room := memchat.NewRoom()
	m := room.Member(smokey, "ny")
	m.Break(nil)
	c := dial(t, m)
	post(t, c, "fine")
	assert.Equal(t, "fine", mustRead(t, c).Text)
}

func TestRedialClosesPrevious(t *testing.T) {
	room := memchat.NewRoom()
	m := room.Member(smokey, "ny")
	old := dial(t, m)
	cur := dial(t, m)

	_, err := read(t, old)
	assert.ErrorIs(t, err, chatgateway.ErrConnClosed)
	_, err = old.Post(context.Background(), "x")
	assert.ErrorIs(t, err, chatgateway.ErrConnClosed)

	post(t, cur, "hi")
	assert.Equal(t, "hi", mustRead(t, cur).Text)
	assert.Len(t, room.Transcript(), 1)
}

func TestFailPosts(t *testing.T) {
	room := memchat.NewRoom()
	m := room.Member(smokey, "ny")
	c := dial(t, m)
	boom := errors.New("409 throttled")

	m.FailPosts(2, boom)
	for range 2 {
		_, err := c.Post(context.Background(), "x")
		assert.ErrorIs(t, err, boom)
	}
	assert.Empty(t, room.Transcript(), "failed posts post nothing")
	assert.Equal(t, int64(1), post(t, c, "ok"))
	assert.Equal(t, "ok", mustRead(t, c).Text, "the conn stays live")

	m.FailPosts(1, nil)
	_, err := c.Post(context.Background(), "x")
	assert.ErrorIs(t, err, memchat.ErrInjected)

	m.FailPosts(5, boom)
	m.FailPosts(0, nil)
	post(t, c, "cancelled")
}

func TestFailDials(t *testing.T) {
	room := memchat.NewRoom()
	m := room.Member(smokey, "ny")
	bad := chatgateway.Permanent(errors.New("bad password"))

	m.FailDials(2, bad)
	for range 2 {
		c, err := m.Dial(context.Background())
		assert.Nil(t, c)
		assert.ErrorIs(t, err, chatgateway.ErrPermanent)
	}
	assert.Equal(t, 0, m.Dials())
	dial(t, m)
	assert.Equal(t, 1, m.Dials())

	m.FailDials(1, nil)
	_, err := m.Dial(context.Background())
	assert.ErrorIs(t, err, memchat.ErrInjected)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.Dial(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, m.Dials())
}

func TestCloseUnblocksRead(t *testing.T) {
	room := memchat.NewRoom()
	c, err := room.Member(smokey, "ny").Dial(context.Background())
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		_, err := c.Read()
		done <- err
	}()
	require.NoError(t, c.Close())
	select {
	case err := <-done:
		assert.ErrorIs(t, err, chatgateway.ErrConnClosed)
	case <-time.After(waitLimit):
		t.Fatal("Close did not unblock Read")
	}

	require.NoError(t, c.Close(), "Close is idempotent")
	_, err = c.Read()
	assert.ErrorIs(t, err, chatgateway.ErrConnClosed)
	_, err = c.Post(context.Background(), "x")
	assert.ErrorIs(t, err, chatgateway.ErrConnClosed)

	room.Say(alice, "after close") // must not reach or panic on the closed conn
	_, err = c.Read()
	assert.ErrorIs(t, err, chatgateway.ErrConnClosed)
}

func TestCloseWinsOverQueuedMessages(t *testing.T) {
	room := memchat.NewRoom()
	c := dial(t, room.Member(smokey, "ny"))
	room.Say(alice, "queued")
	require.NoError(t, c.Close())
	_, err := c.Read()
	assert.ErrorIs(t, err, chatgateway.ErrConnClosed)
}

func TestPostRespectsContext(t *testing.T) {
	room := memchat.NewRoom()
	c := dial(t, room.Member(smokey, "ny"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Post(ctx, "x")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, room.Transcript())
}

func TestMaxMessageLen(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		c := dial(t, memchat.NewRoom().Member(smokey, "ny"))
		assert.Equal(t, memchat.DefaultMaxMessageLen, c.Limits().MaxMessageLen)
	})
	t.Run("set", func(t *testing.T) {
		room := memchat.NewRoom(memchat.WithMaxMessageLen(10))
		c := dial(t, room.Member(smokey, "ny"))
		assert.Equal(t, 10, c.Limits().MaxMessageLen)

		_, err := c.Post(context.Background(), strings.Repeat("x", 11))
		assert.ErrorIs(t, err, chatgateway.ErrMessageTooLong)
		assert.Empty(t, room.Transcript())
		post(t, c, strings.Repeat("x", 10))

		// A person is not a client and is not limited.
		room.Say(alice, strings.Repeat("y", 100))
		assert.Len(t, room.Transcript(), 2)
	})
	t.Run("unlimited", func(t *testing.T) {
		room := memchat.NewRoom(memchat.WithMaxMessageLen(0))
		c := dial(t, room.Member(smokey, "ny"))
		assert.Equal(t, 0, c.Limits().MaxMessageLen)
		post(t, c, strings.Repeat("x", memchat.DefaultMaxMessageLen+1))
	})
}

func TestWaitFor(t *testing.T) {
	room := memchat.NewRoom()
	hasCoffee := func(tr []memchat.Entry) bool {
		for _, e := range tr {
			if e.Text == "*serves coffee*" {
				return true
			}
		}
		return false
	}

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := room.WaitFor(ctx, hasCoffee)
		assert.ErrorIs(t, err, context.Canceled)
	})

	t.Run("woken by a post", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		evaluated := make(chan struct{}, 100)
		type result struct {
			tr  []memchat.Entry
			err error
		}
		done := make(chan result, 1)
		go func() {
			tr, err := room.WaitFor(ctx, func(tr []memchat.Entry) bool {
				evaluated <- struct{}{}
				return hasCoffee(tr)
			})
			done <- result{tr, err}
		}()
		<-evaluated // WaitFor has looked once and is now waiting
		room.Say(alice, "!!/coffee")
		c := dial(t, room.Member(smokey, "ny"))
		post(t, c, "*serves coffee*")
		r := <-done
		require.NoError(t, r.err)
		assert.True(t, hasCoffee(r.tr))
	})

	t.Run("already true", func(t *testing.T) {
		tr, err := room.WaitFor(context.Background(), hasCoffee)
		require.NoError(t, err)
		assert.NotEmpty(t, tr)
	})
}

// TestConcurrentPosters checks that concurrent posters never lose or
// reorder messages: every reader sees all of them, in the room's order.
func TestConcurrentPosters(t *testing.T) {
	const posters, perPoster = 4, 500
	const total = posters * perPoster
	room := memchat.NewRoom()

	var postConns, readConns []chatgateway.Conn
	for i := range posters {
		postConns = append(postConns, dial(t, room.Member(smokey, fmt.Sprint("poster", i))))
	}
	// Two pure readers, one on the posters' account, one not.
	readConns = append(readConns, postConns...)
	readConns = append(readConns, dial(t, room.Member(smokey, "reader")))
	readConns = append(readConns, dial(t, room.Member(alice, "browser")))

	got := make([][]messages.ChatMessage, len(readConns))
	var wg sync.WaitGroup
	for i, c := range readConns {
		wg.Go(func() {
			for range total {
				msg, err := c.Read()
				if err != nil {
					t.Errorf("reader %d: %v", i, err)
					return
				}
				got[i] = append(got[i], msg)
			}
		})
	}
	for i, c := range postConns {
		wg.Go(func() {
			for j := range perPoster {
				if _, err := c.Post(context.Background(), fmt.Sprintf("%d/%d", i, j)); err != nil {
					t.Errorf("poster %d: %v", i, err)
					return
				}
			}
		})
	}
	waitOrClose(t, &wg, readConns)

	tr := room.Transcript()
	require.Len(t, tr, total)
	for i, e := range tr {
		require.Equal(t, int64(i+1), e.ID)
	}
	for i, msgs := range got {
		require.Len(t, msgs, total, "reader %d", i)
		next := make([]int, posters) // each poster's posts arrive in its order
		for k, msg := range msgs {
			require.Equal(t, tr[k].ChatMessage, msg, "reader %d message %d", i, k)
			var p, j int
			_, err := fmt.Sscanf(msg.Text, "%d/%d", &p, &j)
			require.NoError(t, err)
			require.Equal(t, next[p], j)
			next[p]++
		}
	}
}

// waitOrClose waits for wg, closing conns after waitLimit so that stuck
// readers return and the test fails instead of hanging.
func waitOrClose(t *testing.T, wg *sync.WaitGroup, conns []chatgateway.Conn) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		for _, c := range conns {
			_ = c.Close()
		}
		<-done
		t.Fatal("timed out")
	}
}

func TestPostRateIsReported(t *testing.T) {
	room := memchat.NewRoom(memchat.WithPostRate(time.Second, 3))
	c, err := room.Member(chatgateway.Identity{UserID: 1, UserName: "a"}, "a").Dial(context.Background())
	require.NoError(t, err)
	defer c.Close()
	l := c.Limits()
	assert.Equal(t, time.Second, l.PostInterval)
	assert.Equal(t, 3, l.PostBurst)
}
