package sechattest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
)

func TestWebsocketAuthAndOrigin(t *testing.T) {
	e := newEnv(t, sechattest.WithKeepAlive(0))
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)

	u := c.wsURL(e.room.ID)
	assert.Regexp(t, regexp.MustCompile(`^ws://127\.0\.0\.1:\d+/events/1/[0-9a-f]{32}$`), u)
	assert.True(t, strings.HasPrefix(u, "ws://"+strings.TrimPrefix(e.s.URL, "http://")+"/"), "same host as the server: %s", u)

	for _, origin := range []string{"", "https://chat.stackexchange.com"} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		_, resp, err := websocket.DefaultDialer.Dial(u+"?l=0", h)
		require.ErrorIs(t, err, websocket.ErrBadHandshake, "origin %q", origin)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "origin %q", origin)
		resp.Body.Close()
	}

	w := dialURL(t, u+"?l=999999999999", e.s.URL)
	require.Eventually(t, func() bool { return e.s.Sockets() == 1 }, wait, time.Millisecond)
	w.nextEvent(t, e.room.ID, func(ev event) bool { return ev.EventType == 3 && ev.UserID == e.bot.ID })

	// The token was good once.
	_, resp, err := websocket.DefaultDialer.Dial(u, http.Header{"Origin": {e.s.URL}})
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp.Body.Close()
	assert.Equal(t, 1, e.s.Sockets())

	// ws-auth needs a valid fkey and a room.
	resp2, body := c.post("/ws-auth", url.Values{"roomid": {fmt.Sprint(e.room.ID)}, "fkey": {"x"}})
	assert.Equal(t, http.StatusForbidden, resp2.StatusCode)
	assert.Equal(t, sechattest.TextInvalidFKey, body)
	resp2, _ = c.post("/ws-auth", url.Values{"roomid": {"4242"}, "fkey": {c.fkey}})
	assert.Equal(t, http.StatusNotFound, resp2.StatusCode)
}

func TestEventRendering(t *testing.T) {
	e := newEnv(t, sechattest.WithKeepAlive(0), sechattest.WithPartialThreshold(40))
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	w := c.dial(e.room.ID)

	cases := []struct{ name, text, want string }{
		{"single line, escaped", `a & <b> "q" 'x'`, `a &amp; &lt;b&gt; &quot;q&quot; &#39;x&#39;`},
		{"multi-line", "one\ntwo <3", "<div class='full'>one <br> two &lt;3</div>"},
		{"fixed font", "    x := 1\n    if x < 2 {}", "<pre class='full'>x := 1\nif x &lt; 2 {}</pre>"},
		{"not every line indented", "    x\ny", "<div class='full'>    x <br> y</div>"},
		{"SocketScience frame", ".\n\u00021234QUJD\u0003", "<div class='full'>. <br> \u00021234QUJD\u0003</div>"},
		{"partial multi-line", "first line\n" + strings.Repeat("y", 60), "<div class='partial'>first line <br> " + strings.Repeat("y", 29) + "</div>"},
		{"partial fixed font", "    code\n    " + strings.Repeat("z", 60), "<pre class='partial'>code\n" + strings.Repeat("z", 27) + "</pre>"},
		{"partial single line", strings.Repeat("w", 50), "<div class='partial'>" + strings.Repeat("w", 40) + "</div>"},
		{"partial cuts on a rune boundary", "é\n" + strings.Repeat("é", 30), "<div class='partial'>é <br> " + strings.Repeat("é", 18) + "</div>"},
		{"at the threshold: full", strings.Repeat("v", 40), strings.Repeat("v", 40)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := c.sendOK(e.room.ID, tc.text)
			ev := w.nextEvent(t, e.room.ID, messageEvent(1, id))
			assert.Equal(t, tc.want, ev.Content)
			assert.Equal(t, e.bot.ID, ev.UserID)
			assert.Equal(t, e.bot.Name, ev.UserName)
			assert.Equal(t, e.room.ID, ev.RoomID)
			assert.Equal(t, e.room.Name, ev.RoomName)
			assert.NotZero(t, ev.TimeStamp)
			assert.Equal(t, tc.text, plain(t, c, id), "the plain source is the text as posted")
		})
	}
}

func TestFrameShape(t *testing.T) {
	e := newEnv(t, sechattest.WithKeepAlive(20*time.Millisecond))
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	w := c.dial(e.room.ID)

	// Activity: {"r1":{"e":[...],"t":<last event id>,"d":n}}; the JSON
	// escapes HTML characters (here the & of the content's entities) as
	// \uXXXX, as real frames do.
	id := c.sendOK(e.room.ID, "<hi>")
	for {
		f := w.next(t, wait)
		rf, ok := f.room(t, e.room.ID)
		require.True(t, ok)
		if len(rf.E) == 0 || rf.E[0].MessageID != id {
			continue
		}
		require.NotNil(t, rf.T)
		require.NotNil(t, rf.D)
		assert.Equal(t, rf.E[0].ID, *rf.T, "t is the cursor: the last event ID")
		assert.Contains(t, string(f["r1"]), `\u0026lt;hi\u0026gt;`)
		break
	}

	// Keep-alives: {"r1":{"t":..,"d":..}}; every third, from the first, also
	// has "r999":{}.
	var keepAlives []frame
	for len(keepAlives) < 4 {
		f := w.next(t, wait)
		rf, ok := f.room(t, e.room.ID)
		require.True(t, ok, "every frame carries the socket's room")
		if len(rf.E) > 0 {
			continue
		}
		require.NotNil(t, rf.T)
		require.NotNil(t, rf.D)
		keepAlives = append(keepAlives, f)
	}
	// The socket may have had keep-alives before the post; find the
	// phase from the frames themselves.
	var foreign []bool
	for _, f := range keepAlives {
		_, ok := f["r999"]
		foreign = append(foreign, ok)
		if ok {
			assert.JSONEq(t, `{}`, string(f["r999"]))
		}
	}
	n := 0
	for _, b := range foreign {
		if b {
			n++
		}
	}
	assert.GreaterOrEqual(t, n, 1, "one of four keep-alives has a foreign room key: %v", foreign)
	assert.LessOrEqual(t, n, 2, "%v", foreign)
}

func TestFirstKeepAliveHasForeignKey(t *testing.T) {
	e := newEnv(t, sechattest.WithKeepAlive(20*time.Millisecond))
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	c.chatPage("/chats/join/favorite")
	roomEvents(t, c, e.room.ID) // join now, so the socket gets no event 3
	w := c.dial(e.room.ID)
	var seen []bool
	for range 4 {
		f := w.next(t, wait)
		_, foreign := f["r999"]
		seen = append(seen, foreign)
	}
	assert.Equal(t, []bool{true, false, false, true}, seen)
}

func TestReplayWithL(t *testing.T) {
	e := newEnv(t, sechattest.WithKeepAlive(0))
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	for i := range 3 {
		_, err := e.s.Say(e.room.ID, e.bot.ID, fmt.Sprintf("old %d", i))
		require.NoError(t, err)
	}
	evs := roomEvents(t, c, e.room.ID)
	require.Len(t, evs, 3)

	// l at the current cursor: nothing replayed.
	resp, body := c.post(fmt.Sprintf("/chats/%d/events", e.room.ID), url.Values{"fkey": {c.fkey}, "since": {"0"}, "mode": {"Messages"}, "msgCount": {"0"}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var cur struct{ Time int64 }
	require.NoError(t, json.Unmarshal([]byte(body), &cur))
	w := dialURL(t, fmt.Sprintf("%s?l=%d", c.wsURL(e.room.ID), cur.Time), e.s.URL)
	assert.True(t, w.quiet(100*time.Millisecond), "nothing to replay")

	// l before the last message: that message is replayed.
	w = dialURL(t, fmt.Sprintf("%s?l=%d", c.wsURL(e.room.ID), evs[2].ID-1), e.s.URL)
	rf, ok := w.next(t, wait).room(t, e.room.ID)
	require.True(t, ok)
	require.Len(t, rf.E, 1)
	assert.Equal(t, "old 2", rf.E[0].Content)

	// No l: the recent history.
	w = dialURL(t, c.wsURL(e.room.ID), e.s.URL)
	rf, _ = w.next(t, wait).room(t, e.room.ID)
	var texts []string
	for _, ev := range rf.E {
		if ev.EventType == 1 {
			texts = append(texts, ev.Content)
		}
	}
	assert.Equal(t, []string{"old 0", "old 1", "old 2"}, texts)
}

func TestOtherRoomsEvents(t *testing.T) {
	e := newEnv(t, sechattest.WithKeepAlive(0))
	room2 := e.s.AddRoom("Elsewhere")
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	w := c.dial(e.room.ID)
	// The bot posting in room 2 joins it; its room-1 socket now carries
	// room 2's events under "r2".
	id := c.sendOK(room2.ID, "over there")
	ev := w.nextEvent(t, room2.ID, messageEvent(1, id))
	assert.Equal(t, room2.ID, ev.RoomID)
	assert.Equal(t, "Elsewhere", ev.RoomName)

	// Leaving room 2 stops that.
	resp, body := c.post(fmt.Sprintf("/chats/leave/%d", room2.ID), url.Values{"fkey": {c.fkey}, "quiet": {"true"}})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	alice := e.s.AddUser("Alice", "", "")
	_, err := e.s.Say(room2.ID, alice.ID, "unseen")
	require.NoError(t, err)
	id, err = e.s.Say(e.room.ID, alice.ID, "seen")
	require.NoError(t, err)
	for {
		f := w.next(t, wait)
		if rf, ok := f.room(t, room2.ID); ok {
			for _, ev := range rf.E {
				assert.NotEqual(t, 1, ev.EventType, "room 2 message after leaving: %+v", ev)
			}
		}
		if rf, ok := f.room(t, e.room.ID); ok && len(rf.E) > 0 && rf.E[len(rf.E)-1].MessageID == id {
			break
		}
	}
}

func TestPollingEvents(t *testing.T) {
	e := newEnv(t, sechattest.WithKeepAlive(0))
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	evs := roomEvents(t, c, e.room.ID)
	require.Empty(t, evs)
	var start struct{ Time int64 }
	_, body := c.post(fmt.Sprintf("/chats/%d/events", e.room.ID), url.Values{"fkey": {c.fkey}, "msgCount": {"0"}})
	require.NoError(t, json.Unmarshal([]byte(body), &start))

	id, err := e.s.Say(e.room.ID, e.bot.ID, "polled")
	require.NoError(t, err)
	resp, body := c.post("/events", url.Values{"fkey": {c.fkey}, "r1": {fmt.Sprint(start.Time)}})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	var out map[string]roomFrame
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	require.Len(t, out["r1"].E, 1)
	assert.Equal(t, id, out["r1"].E[0].MessageID)
	assert.Equal(t, out["r1"].E[0].ID, *out["r1"].T)
}

func TestEditEvents(t *testing.T) {
	e := newEnv(t, sechattest.WithKeepAlive(0))
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	w := c.dial(e.room.ID)
	id := c.sendOK(e.room.ID, "tpyo")
	posted := w.nextEvent(t, e.room.ID, messageEvent(1, id))

	resp, body := c.post(fmt.Sprintf("/messages/%d", id), url.Values{"text": {"typo & fixed"}, "fkey": {c.fkey}})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	ev := w.nextEvent(t, e.room.ID, messageEvent(2, id))
	assert.Equal(t, "typo &amp; fixed", ev.Content)
	assert.Equal(t, 1, ev.MessageEdits)
	assert.Greater(t, ev.ID, posted.ID, "an edit is a new event")
	assert.Equal(t, "typo & fixed", plain(t, c, id))

	require.NoError(t, e.s.Edit(id, "line one\nline two"))
	ev = w.nextEvent(t, e.room.ID, messageEvent(2, id))
	assert.Equal(t, "<div class='full'>line one <br> line two</div>", ev.Content)
	assert.Equal(t, 2, ev.MessageEdits)

	resp, body = c.post(fmt.Sprintf("/messages/%d/delete", id), url.Values{"fkey": {c.fkey}})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	ev = w.nextEvent(t, e.room.ID, messageEvent(10, id))
	assert.Empty(t, ev.Content)
}

func TestKillSockets(t *testing.T) {
	e := newEnv(t, sechattest.WithKeepAlive(0))
	other := e.s.AddUser("Other", "other@example.com", "pw")
	c1 := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	c2 := newClient(t, e.s).login(other.Email, other.Password)
	w1, w2 := c1.dial(e.room.ID), c2.dial(e.room.ID)
	require.Eventually(t, func() bool { return e.s.Sockets() == 2 }, wait, time.Millisecond)

	e.s.KillSockets(e.bot.ID)
	assertAbrupt(t, w1.closed(t))
	assert.Equal(t, 1, e.s.Sockets())

	id, err := e.s.Say(e.room.ID, other.ID, "still here")
	require.NoError(t, err)
	w2.nextEvent(t, e.room.ID, messageEvent(1, id))

	e.s.KillSockets(0)
	assertAbrupt(t, w2.closed(t))
	assert.Equal(t, 0, e.s.Sockets())
}

// assertAbrupt checks that a socket ended without a close frame (gorilla
// reports 1006 then, or a network error).
func assertAbrupt(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		assert.Equal(t, websocket.CloseAbnormalClosure, ce.Code, "no close frame: %v", err)
	}
}

func TestSilence(t *testing.T) {
	const period = 20 * time.Millisecond
	e := newEnv(t, sechattest.WithKeepAlive(period))
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	w := c.dial(e.room.ID)
	w.next(t, wait)
	w.next(t, wait) // frames flow

	e.s.Silence(true)
	// A frame already being written may still arrive; then nothing.
	quiet := false
	for range 3 {
		if w.quiet(10 * period) {
			quiet = true
			break
		}
	}
	require.True(t, quiet, "keep-alives kept coming while silenced")

	id, err := e.s.Say(e.room.ID, e.bot.ID, "posted into the void")
	require.NoError(t, err)
	assert.True(t, w.quiet(10*period), "an event got through while silenced")
	assert.Equal(t, 1, e.s.Sockets(), "the socket stays open")
	msgs := e.s.Messages(e.room.ID)
	require.Len(t, msgs, 1, "posts are still stored")
	assert.Equal(t, id, msgs[0].ID)

	e.s.Silence(false)
	f := w.next(t, wait)
	rf, ok := f.room(t, e.room.ID)
	require.True(t, ok)
	assert.Empty(t, rf.E, "frames due while silent are dropped")
}

func TestDelayFrames(t *testing.T) {
	const delay = 150 * time.Millisecond
	e := newEnv(t, sechattest.WithKeepAlive(0))
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	w := c.dial(e.room.ID)
	w.nextEvent(t, e.room.ID, func(ev event) bool { return ev.EventType == 3 })

	e.s.DelayFrames(delay)
	start := time.Now()
	id, err := e.s.Say(e.room.ID, e.bot.ID, "slow")
	require.NoError(t, err)
	w.nextEvent(t, e.room.ID, messageEvent(1, id))
	assert.GreaterOrEqual(t, time.Since(start), delay)

	e.s.DelayFrames(0)
	id, err = e.s.Say(e.room.ID, e.bot.ID, "fast")
	require.NoError(t, err)
	w.nextEvent(t, e.room.ID, messageEvent(1, id))
}

func TestSlowSocketIsDropped(t *testing.T) {
	e := newEnv(t, sechattest.WithKeepAlive(0), sechattest.WithSocketQueue(2))
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	w := c.dial(e.room.ID)
	w.nextEvent(t, e.room.ID, func(ev event) bool { return ev.EventType == 3 })

	e.s.DelayFrames(time.Hour) // the writer holds one frame; two more fit
	for i := range 5 {
		_, err := e.s.Say(e.room.ID, e.bot.ID, fmt.Sprint(i))
		require.NoError(t, err)
	}
	assertAbrupt(t, w.closed(t))
	assert.Equal(t, 0, e.s.Sockets())
}

func TestPingPong(t *testing.T) {
	e := newEnv(t, sechattest.WithKeepAlive(0))
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	w := c.dial(e.room.ID)
	pongs := make(chan string, 4)
	w.conn.SetPongHandler(func(data string) error { pongs <- data; return nil })
	require.NoError(t, w.conn.WriteControl(websocket.PingMessage, []byte("1"), time.Now().Add(wait)))
	select {
	case p := <-pongs:
		assert.Equal(t, "1", p)
	case <-time.After(wait):
		t.Fatal("no pong")
	}
	e.s.Silence(true)
	require.NoError(t, w.conn.WriteControl(websocket.PingMessage, []byte("2"), time.Now().Add(wait)))
	select {
	case p := <-pongs:
		t.Fatalf("pong %q while silenced", p)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestRoomPage(t *testing.T) {
	e := newEnv(t, sechattest.WithKeepAlive(0))
	anon := newClient(t, e.s)
	roomPath := fmt.Sprintf("/rooms/%d", e.room.ID)

	// /say as a named person, JSON answer.
	req, err := http.NewRequest(http.MethodPost, e.s.URL+roomPath+"/say", strings.NewReader(url.Values{"name": {"alice"}, "text": {"hi <there>"}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := anon.hc.Do(req)
	require.NoError(t, err)
	var said struct{ ID int64 }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&said))
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, int64(1), said.ID)

	// A plain form post: 303 back to the page; the same person.
	resp, _ = anon.post(roomPath+"/say", url.Values{"name": {"alice"}, "text": {"again"}})
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, roomPath, resp.Header.Get("Location"))
	msgs := e.s.Messages(e.room.ID)
	require.Len(t, msgs, 2)
	assert.Equal(t, "alice", msgs[0].UserName)
	assert.Equal(t, msgs[0].UserID, msgs[1].UserID, "the person is created once")
	resp, _ = anon.post(roomPath+"/say", url.Values{"name": {"alice"}, "text": {" "}})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	frameText := ".\n\u00023359gaRwaW5ngqhsb2NhdGlvbqtIZW5kZXJzL0VDMql0aW1lc3RhbXDOWseSrg==\u0003"
	_, err = e.s.Say(e.room.ID, e.bot.ID, frameText)
	require.NoError(t, err)

	resp, page := anon.get(roomPath)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, page, `<div class="message" data-id="1"><span class="username">alice</span> <span class="content">hi &lt;there&gt;</span></div>`)
	assert.Contains(t, page, fmt.Sprintf(`<span class="content">(SocketScience frame, %d bytes)</span>`, len(frameText)))
	for _, want := range []string{`<form id="say"`, `<input id="name" name="name" value="you"`, `<input id="input" name="text"`, `<button id="sayit"`, "transcript.json"} {
		assert.Contains(t, page, want)
	}
	assert.NotContains(t, page, "<script src", "no external assets")
	assert.NotContains(t, page, "<link", "no external assets")

	// transcript.json
	var tr struct {
		Messages []struct {
			ID       int64  `json:"id"`
			UserName string `json:"user_name"`
			Text     string `json:"text"`
			Edits    int    `json:"edits"`
		} `json:"messages"`
		LastID int64 `json:"last_id"`
		Cursor int64 `json:"cursor"`
	}
	_, body := anon.get(roomPath + "/transcript.json?after=0")
	require.NoError(t, json.Unmarshal([]byte(body), &tr))
	require.Len(t, tr.Messages, 3)
	assert.Equal(t, "hi <there>", tr.Messages[0].Text)
	assert.Equal(t, frameText, tr.Messages[2].Text)
	assert.Equal(t, int64(3), tr.LastID)

	_, body = anon.get(fmt.Sprintf("%s/transcript.json?after=%d&since=%d", roomPath, tr.LastID, tr.Cursor))
	cursor := tr.Cursor
	require.NoError(t, json.Unmarshal([]byte(body), &tr))
	assert.Empty(t, tr.Messages, "nothing new")

	require.NoError(t, e.s.Edit(1, "hi, edited"))
	_, body = anon.get(fmt.Sprintf("%s/transcript.json?after=%d&since=%d", roomPath, tr.LastID, cursor))
	require.NoError(t, json.Unmarshal([]byte(body), &tr))
	require.Len(t, tr.Messages, 1, "edits show up with since")
	assert.Equal(t, "hi, edited", tr.Messages[0].Text)
	assert.Equal(t, 1, tr.Messages[0].Edits)

	resp, _ = anon.get("/rooms/4242/transcript.json")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestNewServerAt(t *testing.T) {
	s, err := sechattest.NewServerAt(":0")
	require.NoError(t, err)
	defer s.Close()
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, s.URL)
	resp, err := http.Get(s.URL + "/users/login")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	_, err = sechattest.NewServerAt(strings.TrimPrefix(s.URL, "http://"))
	assert.Error(t, err, "the address is taken")
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := sechattest.NewServer(sechattest.WithKeepAlive(time.Millisecond), sechattest.WithLogger(zerolog.Nop()))
	room := s.AddRoom("r")
	bot := s.AddUser("b", "b@example.com", "pw")
	c := newClient(t, s).login(bot.Email, bot.Password)
	w1, w2 := c.dial(room.ID), c.dial(room.ID)
	c.sendOK(room.ID, "x")
	require.Eventually(t, func() bool { return s.Sockets() == 2 }, wait, time.Millisecond)
	s.DelayFrames(time.Hour) // writers parked in a delay

	s.Close()
	s.Close() // idempotent
	assertAbrupt(t, w1.closed(t))
	assertAbrupt(t, w2.closed(t))
	assert.Equal(t, 0, s.Sockets())
	_, err := http.Get(s.URL + "/")
	assert.Error(t, err, "the listener is closed")
	c.hc.CloseIdleConnections()
}
