package sechat_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/sechat"
	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
)

// ---------------------------------------------------------------------------
// Logging in

func TestLoginAndIdentity(t *testing.T) {
	f := newFixture(t)
	var logs logBuffer
	c := f.client(t, func(cfg *sechat.Config) { cfg.Logger = logs.logger() })
	assert.Zero(t, c.Identity(), "no I/O before the first Dial")
	assert.Zero(t, f.srv.Requests("/"), "NewClient does no I/O")

	conn := dialRoom(t, c, f.room.ID)
	want := chatgateway.Identity{UserID: f.bot.ID, UserName: f.bot.Name}
	room := strings.TrimPrefix(f.srv.URL, "http://") + "/rooms/"
	assert.Equal(t, chatgateway.Identity{UserID: f.bot.ID, UserName: f.bot.Name, Room: room + strconv.FormatInt(f.room.ID, 10)}, conn.Identity())
	assert.Equal(t, want, c.Identity())
	assert.Equal(t, chatgateway.Limits{}, conn.Limits(), "no known limit for multi-line messages")
	assert.Equal(t, 1, f.srv.Requests("/chats/join/favorite"))
	assert.Equal(t, 2, f.srv.Requests("/users/login"), "login form and login post")
	assert.Equal(t, 1, f.srv.Sockets())

	// A second room on the same Client shares the session: no new login.
	other := f.srv.AddRoom("Other")
	conn2 := dialRoom(t, c, other.ID)
	assert.Equal(t, room+strconv.FormatInt(other.ID, 10), conn2.Identity().Room)
	assert.Equal(t, want.UserID, conn2.Identity().UserID)
	assert.Equal(t, 2, f.srv.Requests("/users/login"))
	assert.Equal(t, 1, f.srv.Requests("/chats/join/favorite"))
	assert.Equal(t, 2, f.srv.Sockets())

	out := logs.String()
	assert.Contains(t, out, "logged in")
	assert.NotContains(t, out, password)
	assert.NotContains(t, out, "smokey@example.com")
	assert.NotContains(t, out, "/events/", "socket URLs carry a token and are not logged")
}

func TestBadCredentialsArePermanent(t *testing.T) {
	f := newFixture(t)
	c := f.client(t, func(cfg *sechat.Config) { cfg.Password = "wrong password" })
	_, err := c.Room(f.room.ID).Dial(context.Background())
	require.Error(t, err)
	assert.ErrorIs(t, err, sechat.ErrBadCredentials)
	assert.ErrorIs(t, err, chatgateway.ErrPermanent)
	assert.NotContains(t, err.Error(), "wrong password")
	assert.Zero(t, f.srv.Sockets())
}

func TestCookieJarLogin(t *testing.T) {
	f := newFixture(t)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	// Log in once with credentials into jar.
	dialRoom(t, f.client(t, func(cfg *sechat.Config) { cfg.Jar = jar }), f.room.ID)
	logins := f.srv.Requests("/users/login")
	require.Equal(t, 2, logins)

	// A client with only the jar needs no login.
	c := f.client(t, func(cfg *sechat.Config) { cfg.Jar, cfg.Email, cfg.Password = jar, "", "" })
	conn := dialRoom(t, c, f.room.ID)
	assert.Equal(t, f.bot.ID, conn.Identity().UserID)
	assert.Equal(t, logins, f.srv.Requests("/users/login"))

	// A jar that is not logged in, with no credentials to fix it: permanent.
	empty, err := cookiejar.New(nil)
	require.NoError(t, err)
	c = f.client(t, func(cfg *sechat.Config) { cfg.Jar, cfg.Email, cfg.Password = empty, "", "" })
	_, err = c.Room(f.room.ID).Dial(context.Background())
	assert.ErrorIs(t, err, sechat.ErrNotLoggedIn)
	assert.ErrorIs(t, err, chatgateway.ErrPermanent)

	// A logged-out jar with credentials: the chat page shows an anonymous
	// visitor, so the client logs in and reads the page again.
	empty, err = cookiejar.New(nil)
	require.NoError(t, err)
	pages := f.srv.Requests("/chats/join/favorite")
	c = f.client(t, func(cfg *sechat.Config) { cfg.Jar = empty })
	conn = dialRoom(t, c, f.room.ID)
	assert.Equal(t, f.bot.ID, conn.Identity().UserID)
	assert.Equal(t, logins+2, f.srv.Requests("/users/login"))
	assert.Equal(t, pages+2, f.srv.Requests("/chats/join/favorite"))
}

func TestOriginHeaderSent(t *testing.T) {
	f := newFixture(t)
	rec := &recordingDialer{}
	c := f.client(t, func(cfg *sechat.Config) {
		tr := &http.Transport{DialContext: rec.DialContext}
		t.Cleanup(tr.CloseIdleConnections)
		cfg.HTTPClient = &http.Client{Transport: tr}
	})
	dialRoom(t, c, f.room.ID)
	out := rec.String()
	i := strings.Index(out, "GET /events/")
	require.GreaterOrEqual(t, i, 0, "the socket was dialed through the client's transport")
	handshake, _, _ := strings.Cut(out[i:], "\r\n\r\n")
	assert.Contains(t, handshake, "\r\nOrigin: "+f.srv.URL+"\r\n")
	assert.Regexp(t, `^GET /events/\d+/[0-9a-f]+\?l=\d+ HTTP/1.1`, handshake)
}

// ---------------------------------------------------------------------------
// Reading

func TestReadPlainSourceOfMessages(t *testing.T) {
	f := newFixture(t)
	ch := reader(t, f.dial(t))

	// Single-line content is HTML-escaped in the event; Text is as typed.
	text := ` <b>bold</b> & "quoted" 'x' `
	id, err := f.srv.Say(f.room.ID, f.human.ID, text)
	require.NoError(t, err)
	msg := nextMsg(t, ch)
	assert.Equal(t, id, msg.ID)
	assert.Equal(t, text, msg.Text)
	assert.Equal(t, f.human.ID, msg.UserID)
	assert.Equal(t, f.human.Name, msg.UserName)
	assert.False(t, msg.Edited)
	assert.WithinDuration(t, time.Now(), msg.Time, time.Minute)

	// A 20 KB multi-line frame: the event content is a 'partial' first 500
	// bytes; the plain source is all of it, control characters included.
	var b strings.Builder
	b.WriteString(".\n\u00021234")
	for b.Len() < 20<<10 {
		b.WriteString("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo= <&> \"line\"\n")
	}
	b.WriteString("\u0003")
	big := b.String()
	fetched := f.srv.Requests("/message/")
	id, err = f.srv.Say(f.room.ID, f.bot.ID, big)
	require.NoError(t, err)
	msg = nextMsg(t, ch)
	assert.Equal(t, id, msg.ID)
	assert.Equal(t, big, msg.Text)
	assert.Equal(t, f.bot.ID, msg.UserID)
	assert.Equal(t, fetched+1, f.srv.Requests("/message/"), "one plain-source fetch per message")
}

func TestReadStripsZeroWidth(t *testing.T) {
	f := newFixture(t, sechattest.WithZeroWidth(true))
	ch := reader(t, f.dial(t))
	text := ".\n\u00020042" + strings.Repeat("gaRwaW5ngqhsb2NhdGlvbqtIZW5kZXJzL0VDMql0aW1lc3RhbXDOWseSrg", 4) + "==\u0003"
	id, err := f.srv.Say(f.room.ID, f.bot.ID, text)
	require.NoError(t, err)

	// The server does insert them: the test would prove nothing otherwise.
	resp, err := http.Get(f.srv.URL + "/message/" + strconv.FormatInt(id, 10) + "?plain=true")
	require.NoError(t, err)
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, err)
	require.Contains(t, string(raw), "\u200b")
	http.DefaultClient.CloseIdleConnections()

	assert.Equal(t, text, nextMsg(t, ch).Text)
}

func TestReadOnlyThisRoom(t *testing.T) {
	f := newFixture(t)
	other := f.srv.AddRoom("Other")
	ch := reader(t, f.dial(t))
	// The bot is in the other room too, so its socket carries that room's
	// events under "r<other>"; they must not surface.
	_, err := f.srv.Say(other.ID, f.bot.ID, "elsewhere")
	require.NoError(t, err)
	_, err = f.srv.Say(other.ID, f.human.ID, "elsewhere too")
	require.NoError(t, err)
	id, err := f.srv.Say(f.room.ID, f.human.ID, "here")
	require.NoError(t, err)
	msg := nextMsg(t, ch)
	assert.Equal(t, id, msg.ID)
	assert.Equal(t, "here", msg.Text)
}

func TestReadEditsAndOwnPosts(t *testing.T) {
	f := newFixture(t)
	conn := f.dial(t)
	ch := reader(t, conn)

	id, err := conn.Post(context.Background(), "!!/coffee")
	require.NoError(t, err)
	msg := nextMsg(t, ch)
	assert.Equal(t, id, msg.ID, "the room echoes own posts")
	assert.Equal(t, "!!/coffee", msg.Text)
	assert.Equal(t, f.bot.ID, msg.UserID)

	require.NoError(t, f.srv.Edit(id, "!!/tea"))
	msg = nextMsg(t, ch)
	assert.Equal(t, id, msg.ID)
	assert.True(t, msg.Edited)
	assert.Equal(t, "!!/tea", msg.Text)
}

// ---------------------------------------------------------------------------
// Posting

func TestPost(t *testing.T) {
	f := newFixture(t)
	conn := f.dial(t)
	ctx := context.Background()
	id, err := conn.Post(ctx, "hello")
	require.NoError(t, err)
	msgs := f.srv.Messages(f.room.ID)
	require.Len(t, msgs, 1)
	assert.Equal(t, id, msgs[0].ID)
	assert.Equal(t, "hello", msgs[0].Text)
	assert.Equal(t, f.bot.ID, msgs[0].UserID)

	// The same text again is refused as a duplicate.
	_, err = conn.Post(ctx, "hello")
	assert.ErrorIs(t, err, sechat.ErrDuplicate)

	// Single-line limit, checked before asking the server.
	posts := f.srv.Requests("/chats/")
	_, err = conn.Post(ctx, strings.Repeat("é", sechat.MaxSingleLineLen+1))
	assert.ErrorIs(t, err, chatgateway.ErrMessageTooLong)
	_, err = conn.Post(ctx, "   ")
	assert.ErrorIs(t, err, sechat.ErrEmptyMessage)
	assert.Equal(t, posts, f.srv.Requests("/chats/"))
	_, err = conn.Post(ctx, strings.Repeat("é", sechat.MaxSingleLineLen))
	assert.NoError(t, err, "500 characters is allowed, though 1000 bytes")
	_, err = conn.Post(ctx, ".\n"+strings.Repeat("x", 5000))
	assert.NoError(t, err, "multi-line messages have no limit")
}

// The gateway posts a message again on the next connection when the first
// connection died before the post's outcome was known. If the first post
// landed, SE refuses the copy as a duplicate: that is a success.
func TestRepostAfterReconnectIsNotADuplicate(t *testing.T) {
	f, conn2, id := postThenRedial(t)
	ctx := context.Background()
	again, err := conn2.Post(ctx, "payload")
	require.NoError(t, err)
	assert.Equal(t, id, again)
	assert.Len(t, f.srv.Messages(f.room.ID), 1)

	// On one connection, the same text twice is still a duplicate.
	_, err = conn2.Post(ctx, "payload")
	assert.ErrorIs(t, err, sechat.ErrDuplicate)

	// Another node on the account (another Dialer) made no earlier
	// attempt: the same text from it is a duplicate.
	other, err := f.client(t).Room(f.room.ID).Dial(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })
	_, err = other.Post(ctx, "payload")
	assert.ErrorIs(t, err, sechat.ErrDuplicate)
}

func TestPostRefusals(t *testing.T) {
	for _, tc := range []struct {
		body      string
		want      error
		permanent bool
	}{
		{sechattest.TextRoomNotFound, sechat.ErrNoPermission, false},
		{sechattest.TextAccountBlocked, sechat.ErrAccountBlocked, true},
		{sechattest.TextRoomTimeout, sechat.ErrRoomTimeout, false},
	} {
		t.Run(tc.body, func(t *testing.T) {
			f := newFixture(t)
			conn := f.dial(t)
			f.srv.RejectPosts(1, http.StatusNotFound, tc.body)
			_, err := conn.Post(context.Background(), "hi")
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.want)
			assert.Equal(t, tc.permanent, errors.Is(err, chatgateway.ErrPermanent))
			assert.Contains(t, err.Error(), tc.body)
		})
	}
	t.Run("unknown room", func(t *testing.T) {
		f := newFixture(t)
		_, err := f.client(t).Room(999).Dial(context.Background())
		assert.ErrorIs(t, err, sechat.ErrNoPermission)
	})
}

func TestPostRefreshesStaleFkey(t *testing.T) {
	f := newFixture(t)
	conn := f.dial(t)
	pages := f.srv.Requests("/chats/join/favorite")
	logins := f.srv.Requests("/users/login")
	f.srv.ExpireFKeys()
	id, err := conn.Post(context.Background(), "still here")
	require.NoError(t, err)
	assert.NotZero(t, id)
	assert.Equal(t, pages+1, f.srv.Requests("/chats/join/favorite"), "the chat page was read again")
	assert.Equal(t, logins, f.srv.Requests("/users/login"), "the session itself was still good")
	assert.Equal(t, 2, f.srv.Requests("/chats/"+strconv.FormatInt(f.room.ID, 10)+"/messages/new"))

	// Dialing again after expiry works the same way.
	f.srv.ExpireFKeys()
	c := f.client(t)
	dialRoom(t, c, f.room.ID)
	f.srv.ExpireFKeys()
	dialRoom(t, c, f.room.ID)
}

func TestPostThrottledReturnsRetryAfter(t *testing.T) {
	for _, seconds := range []int{3, 1} { // "3 seconds", "1 second"
		t.Run(sechattest.ThrottleText(seconds), func(t *testing.T) {
			f := newFixture(t)
			conn := f.dial(t)
			path := "/chats/" + strconv.FormatInt(f.room.ID, 10) + "/messages/new"
			f.srv.ThrottleNext(1, seconds)
			_, err := conn.Post(context.Background(), "patience")
			var ra *chatgateway.RetryAfterError
			require.ErrorAs(t, err, &ra)
			assert.Equal(t, time.Duration(seconds)*time.Second, ra.After)
			assert.ErrorIs(t, err, sechat.ErrThrottled)
			assert.Contains(t, err.Error(), sechattest.ThrottleText(seconds))
			assert.Equal(t, 1, f.srv.Requests(path), "no retry inside Post")
			assert.NotContains(t, f.clock.Timers(), ra.After, "no wait inside Post")

			// The gateway posts it again after the wait.
			id, err := conn.Post(context.Background(), "patience")
			require.NoError(t, err)
			msgs := f.srv.Messages(f.room.ID)
			require.Len(t, msgs, 1)
			assert.Equal(t, id, msgs[0].ID)
		})
	}
}

// A 409 means the post did not land: it must not hide an earlier attempt,
// on a conn that died, that did land.
func TestThrottledRepostStillFindsEarlierAttempt(t *testing.T) {
	f, conn2, id := postThenRedial(t)
	ctx := context.Background()
	f.srv.ThrottleNext(1, 2)
	_, err := conn2.Post(ctx, "payload")
	require.ErrorIs(t, err, sechat.ErrThrottled)
	again, err := conn2.Post(ctx, "payload")
	require.NoError(t, err)
	assert.Equal(t, id, again)
	assert.Len(t, f.srv.Messages(f.room.ID), 1)
}

// ---------------------------------------------------------------------------
// Dead sockets

func TestKilledSocketFailsRead(t *testing.T) {
	f := newFixture(t)
	conn := f.dial(t)
	ch := reader(t, conn)
	f.srv.KillSockets(f.bot.ID)
	err := nextErr(t, ch)
	assert.NotErrorIs(t, err, chatgateway.ErrConnClosed)
	assert.NotErrorIs(t, err, sechat.ErrSilent)
	// The conn stays dead.
	_, err2 := conn.Read()
	assert.Equal(t, err, err2)
}

func TestSilentSocketFailsReadAfterLivenessTimeout(t *testing.T) {
	f := newFixture(t, sechattest.WithKeepAlive(0)) // no stray keep-alives
	conn := f.dial(t)
	ch := reader(t, conn)
	_, err := f.srv.Say(f.room.ID, f.human.ID, "before")
	require.NoError(t, err)
	assert.Equal(t, "before", nextMsg(t, ch).Text)

	f.srv.Silence(true)
	_, err = f.srv.Say(f.room.ID, f.human.ID, "lost in the silence")
	require.NoError(t, err)
	waitTimer(t, f.clock, sechat.DefaultLivenessTimeout)
	f.clock.Advance(sechat.DefaultLivenessTimeout - time.Second)
	assert.Contains(t, f.clock.Timers(), time.Second, "the deadline is still pending")
	assert.Empty(t, ch, "not silent yet")

	f.clock.Advance(time.Second)
	err = nextErr(t, ch)
	assert.ErrorIs(t, err, sechat.ErrSilent)
	require.Eventually(t, func() bool { return f.srv.Sockets() == 0 }, waitLimit, time.Millisecond,
		"the adapter closed the socket")
}

func TestKeepAlivesResetLiveness(t *testing.T) {
	f := newFixture(t, sechattest.WithKeepAlive(5*time.Millisecond))
	ch := reader(t, f.dial(t))
	waitTimer(t, f.clock, sechat.DefaultLivenessTimeout)
	f.clock.Advance(30 * time.Second)
	// A keep-alive (the server sends one every 5 ms) re-arms the deadline
	// at the new now.
	waitTimer(t, f.clock, sechat.DefaultLivenessTimeout)
	f.clock.Advance(30 * time.Second) // 60 s after the first deadline was armed
	assert.Empty(t, ch, "keep-alives keep the socket alive")

	f.srv.Silence(true)
	// A keep-alive already on its way may re-arm the deadline once more,
	// so advance until Read gives up.
	require.Eventually(t, func() bool {
		f.clock.Advance(sechat.DefaultLivenessTimeout)
		return len(ch) > 0
	}, waitLimit, time.Millisecond)
	assert.ErrorIs(t, nextErr(t, ch), sechat.ErrSilent)
}

func TestRefreshAfterInterval(t *testing.T) {
	f := newFixture(t, sechattest.WithKeepAlive(0))
	c := f.client(t, func(cfg *sechat.Config) { cfg.RefreshInterval = 30 * time.Second })
	ch := reader(t, dialRoom(t, c, f.room.ID))
	waitTimer(t, f.clock, sechat.DefaultLivenessTimeout)
	require.Contains(t, f.clock.Timers(), 30*time.Second)
	f.clock.Advance(29 * time.Second)
	assert.Empty(t, ch)
	f.clock.Advance(time.Second)
	assert.ErrorIs(t, nextErr(t, ch), sechat.ErrRefresh)
	require.Eventually(t, func() bool { return f.srv.Sockets() == 0 }, waitLimit, time.Millisecond)

	// The gateway then dials again, on the same session.
	logins := f.srv.Requests("/users/login")
	ch = reader(t, dialRoom(t, c, f.room.ID))
	assert.Equal(t, logins, f.srv.Requests("/users/login"))
	_, err := f.srv.Say(f.room.ID, f.human.ID, "after refresh")
	require.NoError(t, err)
	assert.Equal(t, "after refresh", nextMsg(t, ch).Text)
}

func TestCloseUnblocksRead(t *testing.T) {
	f := newFixture(t)
	conn := f.dial(t)
	ch := reader(t, conn)
	waitTimer(t, f.clock, sechat.DefaultLivenessTimeout) // Read is waiting
	require.NoError(t, conn.Close())
	assert.ErrorIs(t, nextErr(t, ch), chatgateway.ErrConnClosed)
	assert.Zero(t, f.clock.Pending(), "Close stops the liveness and refresh timers")
	require.NoError(t, conn.Close(), "Close is idempotent")
	_, err := conn.Read()
	assert.ErrorIs(t, err, chatgateway.ErrConnClosed)
	require.Eventually(t, func() bool { return f.srv.Sockets() == 0 }, waitLimit, time.Millisecond)
}

func TestRedialResumesWhereTheSocketStopped(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	d := c.Room(f.room.ID)
	dial := func() <-chan readResult {
		t.Helper()
		conn, err := d.Dial(context.Background())
		require.NoError(t, err)
		return reader(t, conn)
	}
	say := func(text string) {
		t.Helper()
		_, err := f.srv.Say(f.room.ID, f.human.ID, text)
		require.NoError(t, err)
	}

	ch := dial()
	say("one")
	assert.Equal(t, "one", nextMsg(t, ch).Text)
	f.srv.KillSockets(f.bot.ID)
	nextErr(t, ch)
	say("while down")
	say("and again")

	// The same Dialer picks up where its socket stopped.
	ch = dial()
	assert.Equal(t, "while down", nextMsg(t, ch).Text)
	assert.Equal(t, "and again", nextMsg(t, ch).Text)

	// Another Dialer (another node) starts from now.
	other := c.Room(f.room.ID)
	conn, err := other.Dial(context.Background())
	require.NoError(t, err)
	otherCh := reader(t, conn)
	say("two")
	assert.Equal(t, "two", nextMsg(t, otherCh).Text)
	assert.Equal(t, "two", nextMsg(t, ch).Text)

	// Down for longer than ResumeWindow: no replay.
	f.srv.KillSockets(f.bot.ID)
	nextErr(t, ch)
	nextErr(t, otherCh)
	say("long gone")
	f.clock.Advance(sechat.ResumeWindow + time.Second)
	ch = dial()
	say("fresh")
	assert.Equal(t, "fresh", nextMsg(t, ch).Text)
}

// browserDelete deletes a message the way its owner would in a browser.
func browserDelete(t *testing.T, f *fixture, email, pass string, msgID int64) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Jar: jar, Transport: tr, Timeout: waitLimit}
	fkeyRe := regexp.MustCompile(`name="fkey"[^>]*value="([0-9a-f]+)"`)
	body := func(resp *http.Response, err error) string {
		t.Helper()
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		return string(b)
	}
	fkey := func(page string) string {
		t.Helper()
		m := fkeyRe.FindStringSubmatch(page)
		require.NotNil(t, m, page)
		return m[1]
	}
	login := fkey(body(hc.Get(f.srv.URL + "/users/login")))
	body(hc.PostForm(f.srv.URL+"/users/login", url.Values{"email": {email}, "password": {pass}, "fkey": {login}}))
	chat := fkey(body(hc.Get(f.srv.URL + "/chats/join/favorite")))
	assert.Equal(t, `"ok"`, body(hc.PostForm(f.srv.URL+"/messages/"+strconv.FormatInt(msgID, 10)+"/delete", url.Values{"fkey": {chat}})))
}

// A message deleted before its source could be fetched is skipped; the
// socket carries on.
func TestReadSkipsDeletedMessage(t *testing.T) {
	f := newFixture(t)
	ch, gone := replayAfterDelete(t, f, exactChatText)
	// The new socket replays both posts (and the delete); the deleted one's
	// plain source answers 404.
	assert.Equal(t, "kept", nextMsg(t, ch).Text)
	assert.Equal(t, 1, f.srv.Requests("/message/"+strconv.FormatInt(gone, 10)))
}

// replayAfterDelete reads the room until its socket dies; meanwhile the
// person says "regrettable", deletes it, and says "kept". It returns what a
// second socket of the same Dialer reads, and the deleted message's id.
func replayAfterDelete(t *testing.T, f *fixture, edit ...func(*sechat.Config)) (<-chan readResult, int64) {
	t.Helper()
	d := f.client(t, edit...).Room(f.room.ID)
	conn, err := d.Dial(context.Background())
	require.NoError(t, err)
	ch := reader(t, conn)
	f.srv.KillSockets(f.bot.ID)
	nextErr(t, ch)

	gone, err := f.srv.Say(f.room.ID, f.human.ID, "regrettable")
	require.NoError(t, err)
	browserDelete(t, f, "makyen@example.com", "other", gone)
	_, err = f.srv.Say(f.room.ID, f.human.ID, "kept")
	require.NoError(t, err)

	conn, err = d.Dial(context.Background())
	require.NoError(t, err)
	return reader(t, conn), gone
}

// postThenRedial posts "payload" on one conn, closes it, and returns a
// second conn of the same Dialer, as a reconnect would leave them, with
// the first post's id.
func postThenRedial(t *testing.T) (f *fixture, conn2 chatgateway.Conn, id int64) {
	t.Helper()
	f = newFixture(t)
	d := f.client(t).Room(f.room.ID)
	ctx := context.Background()
	conn1, err := d.Dial(ctx)
	require.NoError(t, err)
	id, err = conn1.Post(ctx, "payload")
	require.NoError(t, err)
	require.NoError(t, conn1.Close())
	conn2, err = d.Dial(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn2.Close() })
	return f, conn2, id
}
