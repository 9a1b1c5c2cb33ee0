package sechattest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
)

func TestLogin(t *testing.T) {
	e := newEnv(t)

	t.Run("wrong password", func(t *testing.T) {
		c := newClient(t, e.s)
		resp, body := c.loginAttempt(e.bot.Email, "wrong")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, body, sechattest.TextLoginIncorrect)
		for _, ck := range resp.Cookies() {
			assert.NotEqual(t, "acct", ck.Name)
		}
	})
	t.Run("unknown email", func(t *testing.T) {
		resp, body := newClient(t, e.s).loginAttempt("nobody@example.com", "hunter2")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, body, sechattest.TextLoginIncorrect)
	})
	t.Run("wrong login fkey", func(t *testing.T) {
		c := newClient(t, e.s)
		resp, body := c.post("/users/login", url.Values{"email": {e.bot.Email}, "password": {e.bot.Password}, "fkey": {strings.Repeat("0", 32)}})
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, body, sechattest.TextLoginIncorrect)
		assert.Empty(t, resp.Cookies())
	})
	t.Run("success", func(t *testing.T) {
		c := newClient(t, e.s)
		resp, _ := c.loginAttempt(e.bot.Email, e.bot.Password)
		require.Equal(t, http.StatusFound, resp.StatusCode)
		assert.Equal(t, "/", resp.Header.Get("Location"))
		var acct *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "acct" {
				acct = ck
			}
		}
		require.NotNil(t, acct, "no acct cookie")
		assert.True(t, acct.HttpOnly)
		assert.Equal(t, "/", acct.Path)
		assert.NotEmpty(t, acct.Value)
	})
	t.Run("not form-encoded", func(t *testing.T) {
		resp, err := http.Post(e.s.URL+"/users/login", "application/json", strings.NewReader(`{}`))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}

func TestChatPage(t *testing.T) {
	e := newEnv(t)
	anon := newClient(t, e.s)
	for _, path := range []string{"/chats/join/favorite", fmt.Sprintf("/rooms/%d", e.room.ID), "/"} {
		resp, page := anon.get(path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.NotRegexp(t, chatFKeyRe, page, "anonymous %s has an fkey", path)
		assert.NotRegexp(t, userLinkRe, page, "anonymous %s has a user link", path)
	}

	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	first := c.fkey
	for _, path := range []string{"/chats/join/favorite", fmt.Sprintf("/rooms/%d", e.room.ID)} {
		page := c.chatPage(path)
		assert.Equal(t, first, c.fkey, "the chat fkey stays the same within a session")
		m := userLinkRe.FindStringSubmatch(page)
		require.NotNil(t, m, "%s has no topbar user link: %s", path, page)
		assert.Equal(t, fmt.Sprint(e.bot.ID), m[1])
		assert.Equal(t, "smoke-detector", m[2])
		assert.Equal(t, e.bot.Name, m[3])
		assert.Equal(t, e.bot.Name, m[4])
	}

	other := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	assert.NotEqual(t, first, other.fkey, "a new session has a new chat fkey")

	resp, _ := c.get("/rooms/4242")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestEventsCall(t *testing.T) {
	e := newEnv(t)
	human := e.s.AddUser("Alice", "", "")
	for i := range 3 {
		_, err := e.s.Say(e.room.ID, human.ID, fmt.Sprintf("message %d", i))
		require.NoError(t, err)
	}
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)

	resp, body := c.post(fmt.Sprintf("/chats/%d/events", e.room.ID),
		url.Values{"fkey": {c.fkey}, "since": {"0"}, "mode": {"Messages"}, "msgCount": {"2"}})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	var out struct {
		Events []event `json:"events"`
		Time   int64   `json:"time"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	require.Len(t, out.Events, 2)
	assert.Equal(t, "message 1", out.Events[0].Content, "oldest first")
	assert.Equal(t, "message 2", out.Events[1].Content)
	for _, ev := range out.Events {
		assert.Equal(t, 1, ev.EventType)
		assert.Equal(t, human.ID, ev.UserID)
		assert.Equal(t, "Alice", ev.UserName)
		assert.Equal(t, e.room.ID, ev.RoomID)
		assert.Equal(t, "Sandbox", ev.RoomName)
		assert.LessOrEqual(t, ev.ID, out.Time)
	}
	assert.Less(t, out.Events[0].MessageID, out.Events[1].MessageID)

	resp, body = c.post(fmt.Sprintf("/chats/%d/events", e.room.ID), url.Values{"fkey": {"nope"}, "msgCount": {"2"}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, sechattest.TextInvalidFKey, body)

	resp, _ = c.post("/chats/4242/events", url.Values{"fkey": {c.fkey}})
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestPostReplies(t *testing.T) {
	e := newEnv(t)
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)

	id := c.sendOK(e.room.ID, "hello")
	assert.Equal(t, int64(1), id, "message IDs start at 1")

	t.Run("duplicate", func(t *testing.T) {
		resp, body := c.send(e.room.ID, "hello")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.JSONEq(t, `{"id":null,"time":null}`, body)
		// Another user, or another room, may say the same.
		other := e.s.AddUser("Other", "other@example.com", "pw")
		newClient(t, e.s).login(other.Email, other.Password).sendOK(e.room.ID, "hello")
		room2 := e.s.AddRoom("Other room")
		c.sendOK(room2.ID, "hello")
		// Once the user said something else, the text is no repeat.
		c.sendOK(e.room.ID, "something else")
		c.sendOK(e.room.ID, "hello")
	})
	t.Run("unknown room", func(t *testing.T) {
		resp, body := c.send(4242, "hi")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		assert.Equal(t, sechattest.TextRoomNotFound, body)
	})
	t.Run("empty text", func(t *testing.T) {
		resp, _ := c.send(e.room.ID, "")
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})
	t.Run("invalid fkey", func(t *testing.T) {
		resp, body := c.post(fmt.Sprintf("/chats/%d/messages/new", e.room.ID), url.Values{"text": {"x"}, "fkey": {strings.Repeat("a", 32)}})
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.Equal(t, sechattest.TextInvalidFKey, body)
		// An fkey without the session's cookie is no good either.
		resp, body = newClient(t, e.s).post(fmt.Sprintf("/chats/%d/messages/new", e.room.ID), url.Values{"text": {"x"}, "fkey": {c.fkey}})
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.Equal(t, sechattest.TextInvalidFKey, body)
	})
	t.Run("not form-encoded", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/chats/%d/messages/new", e.s.URL, e.room.ID), strings.NewReader("text=x&fkey="+c.fkey))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := c.hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
	assert.Equal(t, 5, e.s.Posts(), "only accepted HTTP posts count")
	assert.Equal(t, 9, e.s.Requests(fmt.Sprintf("/chats/%d/messages/new", e.room.ID)))
}

func TestThrottle(t *testing.T) {
	e := newEnv(t)
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	other := e.s.AddUser("Other", "other@example.com", "pw")
	c2 := newClient(t, e.s).login(other.Email, other.Password)

	e.s.Throttle(2, time.Hour, 3)
	c.sendOK(e.room.ID, "one")
	c.sendOK(e.room.ID, "two")
	resp, body := c.send(e.room.ID, "three")
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Equal(t, "You can perform this action again in 3 seconds", body)
	c2.sendOK(e.room.ID, "the throttle is per user")

	e.s.Throttle(2, time.Hour, 1)
	resp, body = c.send(e.room.ID, "three")
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Equal(t, "You can perform this action again in 1 second", body)

	e.s.Throttle(0, 0, 0)
	c.sendOK(e.room.ID, "three")
	assert.Equal(t, 4, e.s.Posts())
}

func TestThrottleNext(t *testing.T) {
	e := newEnv(t)
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)

	e.s.ThrottleNext(2, 1)
	for range 2 {
		resp, body := c.send(e.room.ID, "hi")
		assert.Equal(t, http.StatusConflict, resp.StatusCode)
		assert.Equal(t, "You can perform this action again in 1 second", body)
	}
	c.sendOK(e.room.ID, "hi")

	e.s.ThrottleNext(1, 7)
	resp, body := c.send(e.room.ID, "again")
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Equal(t, "You can perform this action again in 7 seconds", body)
	assert.Equal(t, sechattest.ThrottleText(7), body)
	c.sendOK(e.room.ID, "again")
	assert.Len(t, e.s.Messages(e.room.ID), 2)
}

func TestRejectPosts(t *testing.T) {
	e := newEnv(t)
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	for _, body := range []string{sechattest.TextAccountBlocked, sechattest.TextRoomTimeout, sechattest.TextRoomNotFound} {
		e.s.RejectPosts(1, http.StatusNotFound, body)
		resp, got := c.send(e.room.ID, "hi")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		assert.Equal(t, body, got)
	}
	e.s.RejectPosts(2, http.StatusInternalServerError, "boom")
	for range 2 {
		resp, got := c.send(e.room.ID, "hi")
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		assert.Equal(t, "boom", got)
	}
	c.sendOK(e.room.ID, "hi")
	assert.Equal(t, 1, e.s.Posts())
}

func TestExpireFKeys(t *testing.T) {
	e := newEnv(t)
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	c.sendOK(e.room.ID, "before")
	old := c.fkey

	e.s.ExpireFKeys()
	resp, body := c.send(e.room.ID, "after")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, "Invalid fkey", body)
	resp, body = c.post("/ws-auth", url.Values{"roomid": {fmt.Sprint(e.room.ID)}, "fkey": {old}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, "Invalid fkey", body)

	c.chatPage(fmt.Sprintf("/rooms/%d", e.room.ID))
	assert.NotEqual(t, old, c.fkey, "a fresh chat page issues a new fkey")
	c.sendOK(e.room.ID, "after")
	assert.Len(t, e.s.Messages(e.room.ID), 2)
}

func TestPlainSource(t *testing.T) {
	e := newEnv(t)
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	texts := []string{
		"hello",
		" leading space and trailing  ",
		".\n\u00023359gaRwaW5ngqhsb2NhdGlvbqtIZW5kZXJzL0VDMql0aW1lc3RhbXDOWseSrg==\u0003",
		"a & <b> \"q\" 'x'\nsecond line",
		strings.Repeat("long ", 300),
	}
	for _, text := range texts {
		id := c.sendOK(e.room.ID, text)
		assert.Equal(t, text, plain(t, newClient(t, e.s), id), "no login needed, exact text")
	}
	resp, _ := c.get("/message/4242?plain=true")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, len(texts)+1, e.s.Requests("/message/"))

	// Without plain=true: the content HTML, never truncated.
	resp, body := c.get("/message/4?plain=false")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "<div class='full'>a &amp; &lt;b&gt; &quot;q&quot; &#39;x&#39; <br> second line</div>", body)
}

func TestZeroWidth(t *testing.T) {
	e := newEnv(t, sechattest.WithZeroWidth(true))
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	word45 := strings.Repeat("abcdefghij", 4) + "klmno"
	text := "short words stay " + strings.Repeat("x", 20) + " " + word45
	id := c.sendOK(e.room.ID, text)

	got := plain(t, c, id)
	want := "short words stay " + strings.Repeat("x", 20) + " " +
		"abcdefghijabcdefghij\u200Babcdefghijabcdefghij\u200Bklmno"
	assert.Equal(t, want, got)
	assert.Equal(t, text, strings.ReplaceAll(got, "\u200B", ""))

	_, page := c.get(fmt.Sprintf("/messages/%d/history", id))
	assert.Contains(t, page, `<div class="message-source">`+want+`</div>`)

	// Event content is left alone.
	evs := roomEvents(t, c, e.room.ID)
	require.NotEmpty(t, evs)
	assert.Equal(t, text, evs[len(evs)-1].Content)

	// A SocketScience frame is one long word: it gets broken up.
	frame := ".\n\u00023359gaRwaW5ngqhsb2NhdGlvbqtIZW5kZXJzL0VDMql0aW1lc3RhbXDOWseSrg==\u0003"
	id = c.sendOK(e.room.ID, frame)
	got = plain(t, c, id)
	assert.Contains(t, got, "\u200B")
	assert.Equal(t, frame, strings.ReplaceAll(got, "\u200B", ""))
}

func roomEvents(t *testing.T, c *client, roomID int64) []event {
	t.Helper()
	resp, body := c.post(fmt.Sprintf("/chats/%d/events", roomID), url.Values{"fkey": {c.fkey}, "since": {"0"}, "mode": {"Messages"}, "msgCount": {"100"}})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	var out struct{ Events []event }
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	return out.Events
}

func TestHistoryPage(t *testing.T) {
	e := newEnv(t)
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	id := c.sendOK(e.room.ID, "first <version>")
	resp, body := c.post(fmt.Sprintf("/messages/%d", id), url.Values{"text": {"second & last"}, "fkey": {c.fkey}})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	resp, body = c.post(fmt.Sprintf("/messages/%d", id), url.Values{"text": {"third & 'last'"}, "fkey": {c.fkey}})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)

	resp, page := newClient(t, e.s).get(fmt.Sprintf("/messages/%d/history", id))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	doc := parseHTML(t, page)
	monologues := selectAll(t, doc, ".monologue")
	require.Len(t, monologues, 4, "the message, then each of its 3 versions")
	var labels, sources []string
	for _, m := range monologues[1:] {
		labels = append(labels, text(selectAll(t, m, "b")[0]))
		sources = append(sources, text(selectAll(t, m, ".message-source")[0]))
	}
	assert.Equal(t, []string{"edited:", "edited:", "said:"}, labels, "newest first")
	assert.Equal(t, []string{"third & 'last'", "second & last", "first <version>"}, sources)
	assert.Empty(t, selectAll(t, monologues[0], ".message-source"), "the first .message-source is the newest version's")
	assert.Equal(t, "third &amp; &#39;last&#39;", strings.TrimSpace(innerHTML(t, selectAll(t, monologues[0], ".content")[0])))
	assert.Empty(t, selectAll(t, doc, ".stars"), "no stars, no badge")

	resp, _ = c.get("/messages/4242/history")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestEditAndDeleteHTTP(t *testing.T) {
	e := newEnv(t)
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	other := e.s.AddUser("Other", "other@example.com", "pw")
	c2 := newClient(t, e.s).login(other.Email, other.Password)
	id := c.sendOK(e.room.ID, "typo")

	resp, body := c2.post(fmt.Sprintf("/messages/%d", id), url.Values{"text": {"hijack"}, "fkey": {c2.fkey}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, `"You can only edit your own messages"`, body)

	resp, body = c.post(fmt.Sprintf("/messages/%d", id), url.Values{"text": {"fixed"}, "fkey": {"bad"}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, sechattest.TextInvalidFKey, body)

	resp, body = c.post(fmt.Sprintf("/messages/%d", id), url.Values{"text": {"fixed"}, "fkey": {c.fkey}})
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, `"ok"`, body)
	msgs := e.s.Messages(e.room.ID)
	require.Len(t, msgs, 1)
	assert.Equal(t, "fixed", msgs[0].Text)
	assert.Equal(t, 1, msgs[0].Edits)

	resp, _ = c.post("/messages/4242", url.Values{"text": {"x"}, "fkey": {c.fkey}})
	assert.Equal(t, http.StatusFound, resp.StatusCode, "an unknown ID redirects")

	// Past the edit window, neither edit nor delete works.
	late := c.sendOK(e.room.ID, "old news")
	sechattest.SetClock(e.s, func() time.Time { return time.Now().Add(sechattest.EditWindow + time.Second) })
	resp, body = c.post(fmt.Sprintf("/messages/%d", late), url.Values{"text": {"x"}, "fkey": {c.fkey}})
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, `"It is too late to edit this message"`, body)
	resp, body = c.post(fmt.Sprintf("/messages/%d/delete", late), url.Values{"fkey": {c.fkey}})
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, `"It is too late to delete this message"`, body)
	sechattest.SetClock(e.s, time.Now)

	resp, body = c2.post(fmt.Sprintf("/messages/%d/delete", id), url.Values{"fkey": {c2.fkey}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, `"You can only delete your own messages"`, body)
	resp, body = c.post(fmt.Sprintf("/messages/%d/delete", id), url.Values{"fkey": {c.fkey}})
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, `"ok"`, body)
	resp, body = c.post(fmt.Sprintf("/messages/%d/delete", id), url.Values{"fkey": {c.fkey}})
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, `"This message has already been deleted."`, body)
	assert.True(t, e.s.Messages(e.room.ID)[0].Deleted)
	assert.False(t, e.s.Messages(e.room.ID)[1].Deleted)
	resp, _ = c.get(fmt.Sprintf("/message/%d?plain=true", id))
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestDirectAPI(t *testing.T) {
	e := newEnv(t)
	_, err := e.s.Say(4242, e.bot.ID, "x")
	assert.ErrorIs(t, err, sechattest.ErrUnknownRoom)
	_, err = e.s.Say(e.room.ID, 4242, "x")
	assert.ErrorIs(t, err, sechattest.ErrUnknownUser)
	_, err = e.s.Say(e.room.ID, e.bot.ID, "  ")
	assert.ErrorIs(t, err, sechattest.ErrEmptyText)
	assert.ErrorIs(t, e.s.Edit(4242, "x"), sechattest.ErrUnknownMessage)

	id, err := e.s.Say(e.room.ID, e.bot.ID, "same")
	require.NoError(t, err)
	_, err = e.s.Say(e.room.ID, e.bot.ID, "same")
	require.NoError(t, err, "Say skips duplicate detection")
	require.NoError(t, e.s.Edit(id, "edited"))
	msgs := e.s.Messages(e.room.ID)
	require.Len(t, msgs, 2)
	assert.Equal(t, sechattest.Message{ID: id, RoomID: e.room.ID, UserID: e.bot.ID, UserName: e.bot.Name, Text: "edited", Edits: 1, Time: msgs[0].Time}, msgs[0])
	assert.Equal(t, 0, e.s.Posts(), "Say is not an HTTP post")
	assert.Nil(t, e.s.Messages(4242))
	assert.Equal(t, e.s.URL+"/rooms/1", e.s.RoomURL(e.room.ID))
}

func TestWaitFor(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	go func() {
		for i := range 5 {
			_, _ = e.s.Say(e.room.ID, e.bot.ID, fmt.Sprintf("m%d", i))
		}
	}()
	msgs, err := e.s.WaitFor(ctx, e.room.ID, func(ms []sechattest.Message) bool { return len(ms) == 5 })
	require.NoError(t, err)
	assert.Equal(t, "m4", msgs[4].Text)

	short, cancel2 := context.WithCancel(t.Context())
	cancel2()
	msgs, err = e.s.WaitFor(short, e.room.ID, func(ms []sechattest.Message) bool { return len(ms) > 5 })
	assert.ErrorIs(t, err, context.Canceled)
	assert.Len(t, msgs, 5)

	done := make(chan error, 1)
	go func() {
		_, err := e.s.WaitFor(ctx, e.room.ID, func([]sechattest.Message) bool { return false })
		done <- err
	}()
	e.s.Close()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, sechattest.ErrClosed)
	case <-time.After(wait):
		t.Fatal("WaitFor did not return on Close")
	}
}

func TestRequestsTo(t *testing.T) {
	srv := sechattest.NewServer()
	defer srv.Close()
	for _, p := range []string{"/message/4", "/message/42", "/message/42"} {
		resp, err := http.Get(srv.URL + p + "?plain=true")
		require.NoError(t, err)
		_ = resp.Body.Close()
	}
	assert.Equal(t, 2, srv.RequestsTo("/message/42"))
	assert.Equal(t, 1, srv.RequestsTo("/message/4"))
	assert.Equal(t, 3, srv.Requests("/message/4"))
}
