package sechattest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
)

// wait bounds every wait in these tests; nothing should take near it.
const wait = 5 * time.Second

var (
	loginFKeyRe = regexp.MustCompile(`<input type="hidden" name="fkey" value="([0-9a-f]{32})">`)
	chatFKeyRe  = regexp.MustCompile(`<input id="fkey" name="fkey" type="hidden" value="([0-9a-f]{32})">`)
	userLinkRe  = regexp.MustCompile(`<span class="topbar-menu-links"><a href="/users/(\d+)/([^"]+)" title="([^"]*)">([^<]*)</a></span>`)
)

// env is a server with one room and one bot account.
type env struct {
	s    *sechattest.Server
	room sechattest.Room
	bot  sechattest.User
}

func newEnv(t *testing.T, opts ...sechattest.Option) env {
	t.Helper()
	s := sechattest.NewServer(opts...)
	t.Cleanup(s.Close)
	return env{
		s:    s,
		room: s.AddRoom("Sandbox"),
		bot:  s.AddUser("Smoke Detector", "smokey@example.com", "hunter2"),
	}
}

// client is one browser-like HTTP client: a cookie jar, redirects not
// followed (so tests see them).
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
	fkey string // chat fkey, after chatPage
}

func newClient(t *testing.T, s *sechattest.Server) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	hc := &http.Client{
		Jar:           jar,
		Timeout:       wait,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(hc.CloseIdleConnections)
	return &client{t: t, base: s.URL, hc: hc}
}

func (c *client) get(path string) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.hc.Get(c.base + path)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp, string(body)
}

func (c *client) post(path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.hc.PostForm(c.base+path, form)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp, string(body)
}

// loginAttempt posts the login form with a fresh login fkey.
func (c *client) loginAttempt(email, password string) (*http.Response, string) {
	c.t.Helper()
	_, page := c.get("/users/login")
	m := loginFKeyRe.FindStringSubmatch(page)
	require.NotNil(c.t, m, "login page has no fkey input: %s", page)
	return c.post("/users/login", url.Values{"email": {email}, "password": {password}, "fkey": {m[1]}})
}

// login logs in and fetches the chat fkey from /chats/join/favorite.
func (c *client) login(email, password string) *client {
	c.t.Helper()
	resp, _ := c.loginAttempt(email, password)
	require.Equal(c.t, http.StatusFound, resp.StatusCode)
	c.chatPage("/chats/join/favorite")
	return c
}

// chatPage GETs a chat page and stores its chat fkey.
func (c *client) chatPage(path string) string {
	c.t.Helper()
	resp, page := c.get(path)
	require.Equal(c.t, http.StatusOK, resp.StatusCode)
	m := chatFKeyRe.FindStringSubmatch(page)
	require.NotNil(c.t, m, "chat page has no fkey: %s", page)
	c.fkey = m[1]
	return page
}

// send posts text to a room the way the adapter does.
func (c *client) send(roomID int64, text string) (*http.Response, string) {
	c.t.Helper()
	return c.post(fmt.Sprintf("/chats/%d/messages/new", roomID), url.Values{"text": {text}, "fkey": {c.fkey}})
}

// sendOK posts and returns the new message ID.
func (c *client) sendOK(roomID int64, text string) int64 {
	c.t.Helper()
	resp, body := c.send(roomID, text)
	require.Equal(c.t, http.StatusOK, resp.StatusCode, body)
	var out struct {
		ID   *int64 `json:"id"`
		Time *int64 `json:"time"`
	}
	require.NoError(c.t, json.Unmarshal([]byte(body), &out))
	require.NotNil(c.t, out.ID, body)
	require.NotNil(c.t, out.Time, body)
	return *out.ID
}

// wsURL asks /ws-auth for a socket URL.
func (c *client) wsURL(roomID int64) string {
	c.t.Helper()
	resp, body := c.post("/ws-auth", url.Values{"roomid": {fmt.Sprint(roomID)}, "fkey": {c.fkey}})
	require.Equal(c.t, http.StatusOK, resp.StatusCode, body)
	var out struct{ URL string }
	require.NoError(c.t, json.Unmarshal([]byte(body), &out))
	return out.URL
}

// dial opens a socket for the room with a correct Origin and l set past
// every event (nothing replayed).
func (c *client) dial(roomID int64) *wsConn {
	c.t.Helper()
	return dialURL(c.t, c.wsURL(roomID)+"?l=999999999999", c.base)
}

type event struct {
	EventType    int    `json:"event_type"`
	TimeStamp    int64  `json:"time_stamp"`
	Content      string `json:"content"`
	ID           int64  `json:"id"`
	UserID       int64  `json:"user_id"`
	UserName     string `json:"user_name"`
	RoomID       int64  `json:"room_id"`
	RoomName     string `json:"room_name"`
	MessageID    int64  `json:"message_id"`
	MessageEdits int    `json:"message_edits"`
}

type roomFrame struct {
	E []event `json:"e"`
	T *int64  `json:"t"`
	D *int64  `json:"d"`
}

type frame map[string]json.RawMessage

func (f frame) room(t *testing.T, id int64) (roomFrame, bool) {
	t.Helper()
	raw, ok := f[fmt.Sprintf("r%d", id)]
	if !ok {
		return roomFrame{}, false
	}
	var rf roomFrame
	require.NoError(t, json.Unmarshal(raw, &rf))
	return rf, true
}

// wsConn is a test socket with its own reader goroutine.
type wsConn struct {
	conn   *websocket.Conn
	frames chan frame
	err    error // set before frames is closed
	stop   chan struct{}
	done   chan struct{}
}

func dialURL(t *testing.T, u, origin string) *wsConn {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	conn, resp, err := websocket.DefaultDialer.Dial(u, h)
	require.NoError(t, err)
	resp.Body.Close()
	w := &wsConn{conn: conn, frames: make(chan frame, 1024), stop: make(chan struct{}), done: make(chan struct{})}
	go w.read()
	t.Cleanup(w.close)
	return w
}

func (w *wsConn) read() {
	defer close(w.done)
	defer close(w.frames)
	for {
		_, data, err := w.conn.ReadMessage()
		if err != nil {
			w.err = err
			return
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			w.err = fmt.Errorf("bad frame %q: %w", data, err)
			return
		}
		select {
		case w.frames <- f:
		case <-w.stop:
			return
		}
	}
}

func (w *wsConn) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	_ = w.conn.Close()
	<-w.done
}

// next returns the next frame, failing after d.
func (w *wsConn) next(t *testing.T, d time.Duration) frame {
	t.Helper()
	select {
	case f, ok := <-w.frames:
		if !ok {
			t.Fatalf("socket closed: %v", w.err)
		}
		return f
	case <-time.After(d):
		t.Fatalf("no frame within %v", d)
		return nil
	}
}

// nextEvent skips frames until an event for the room matches pred.
func (w *wsConn) nextEvent(t *testing.T, roomID int64, pred func(event) bool) event {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case f, ok := <-w.frames:
			if !ok {
				t.Fatalf("socket closed: %v", w.err)
			}
			rf, _ := f.room(t, roomID)
			for _, e := range rf.E {
				if pred(e) {
					return e
				}
			}
		case <-deadline:
			t.Fatalf("no matching event within %v", wait)
		}
	}
}

func messageEvent(typ int, msgID int64) func(event) bool {
	return func(e event) bool { return e.EventType == typ && e.MessageID == msgID }
}

// closed waits for the server to end the socket and returns the read error.
func (w *wsConn) closed(t *testing.T) error {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case _, ok := <-w.frames:
			if !ok {
				return w.err
			}
		case <-deadline:
			t.Fatalf("socket still open after %v", wait)
		}
	}
}

// quiet reports whether no frame arrives within d (the socket staying
// open).
func (w *wsConn) quiet(d time.Duration) bool {
	select {
	case <-w.frames:
		return false
	case <-time.After(d):
		return true
	}
}

func plain(t *testing.T, c *client, msgID int64) string {
	t.Helper()
	resp, body := c.get(fmt.Sprintf("/message/%d?plain=true", msgID))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain"))
	return body
}
