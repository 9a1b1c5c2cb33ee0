package sechat_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/sechat"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
)

// hostile is a fake SE chat server with one room and one bot account, small
// enough to reason about, whose every endpoint a test can replace: the
// broken and hostile counterpart of sechattest, which is faithful. Frames
// follow the real shapes: {"r<room>":{"e":[events],"t":cursor,"d":moved}}.
type hostile struct {
	t     *testing.T
	srv   *httptest.Server
	URL   string
	clock *fakeclock.Clock
	done  chan struct{} // closed when the test ends: stalled hooks return

	mu      sync.Mutex
	cursor  int64 // the server-wide event counter, a frame's "t"
	nextMsg int64
	texts   map[int64]string
	events  []hostileEvent // message events, oldest first, for replay
	sockets map[*hostileSocket]bool
	counts  map[string]int
	hooks   map[string]hostileHook
	// onOpen, if set, may send a new socket its first frames.
	onOpen func(send func(frame string))
	wg     sync.WaitGroup // socket handlers, which httptest does not wait for
}

// hostileHook may answer a request to route itself (returning true); n
// counts that route's requests, from 1.
type hostileHook func(w http.ResponseWriter, r *http.Request, n int) bool

type hostileEvent struct {
	EventType int    `json:"event_type"`
	TimeStamp int64  `json:"time_stamp"`
	ID        int64  `json:"id"`
	UserID    int64  `json:"user_id"`
	UserName  string `json:"user_name"`
	RoomID    int64  `json:"room_id"`
	MessageID int64  `json:"message_id"`
}

type hostileSocket struct {
	mu    sync.Mutex // one writer at a time
	ws    *websocket.Conn
	lastT int64 // guarded by hostile.mu
}

const (
	hostileRoom  = 11540
	hostileBot   = 7
	hostileHuman = 8
	// hostileToken is in every socket URL the server hands out, so a test
	// can look for it in errors and logs.
	hostileToken = "s3cr3ts0ck3tt0k3n"
)

// Routes, for on and requests.
const (
	routeLoginPage = "login page"
	routeLogin     = "login"
	routeChatPage  = "chat page"
	routeEvents    = "events"
	routeWSAuth    = "ws-auth"
	routeSocket    = "socket"
	routePlain     = "plain"
	routePost      = "post"
)

func newHostile(t *testing.T) *hostile {
	t.Helper()
	h := &hostile{
		t: t, clock: fakeclock.New(epoch), done: make(chan struct{}),
		cursor: 1000, texts: map[int64]string{}, sockets: map[*hostileSocket]bool{},
		counts: map[string]int{}, hooks: map[string]hostileHook{},
	}
	mux := http.NewServeMux()
	route := func(pattern, name string, f http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			h.mu.Lock()
			h.counts[name]++
			n, hook := h.counts[name], h.hooks[name]
			h.mu.Unlock()
			if hook != nil && hook(w, r, n) {
				return
			}
			f(w, r)
		})
	}
	route("GET /users/login", routeLoginPage, func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `<form><input type="hidden" name="fkey" value="loginfkey"></form>`)
	})
	route("POST /users/login", routeLogin, func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "acct", Value: "bot", Path: "/"})
		http.Redirect(w, r, "/", http.StatusFound)
	})
	chatPage := func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<div class="topbar-menu-links"><a href="/users/%d/bot">bot</a></div>`+
			`<input id="fkey" name="fkey" type="hidden" value="chatfkey">`, hostileBot)
	}
	route("GET /{$}", routeChatPage, chatPage)
	route("GET /chats/join/favorite", routeChatPage, chatPage)
	route("POST /chats/{room}/events", routeEvents, func(w http.ResponseWriter, r *http.Request) {
		count, _ := strconv.Atoi(r.FormValue("msgCount"))
		h.mu.Lock()
		evs := h.events[max(len(h.events)-count, 0):]
		ans := map[string]any{"events": append([]hostileEvent{}, evs...), "time": h.cursor}
		h.mu.Unlock()
		writeJSON(w, ans)
	})
	route("POST /ws-auth", routeWSAuth, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]string{"url": h.socketURL()})
	})
	route("GET /events/{room}/{token}", routeSocket, h.handleSocket)
	route("GET /message/{id}", routePlain, func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		h.mu.Lock()
		text, ok := h.texts[id]
		h.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, text)
	})
	route("POST /chats/{room}/messages/new", routePost, func(w http.ResponseWriter, r *http.Request) {
		id, ts := h.say(hostileBot, r.FormValue("text"))
		writeJSON(w, map[string]int64{"id": id, "time": ts})
	})
	h.srv = httptest.NewServer(mux)
	h.URL = h.srv.URL
	t.Cleanup(h.close)
	return h
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (h *hostile) socketURL() string {
	return "ws://" + strings.TrimPrefix(h.URL, "http://") + fmt.Sprintf("/events/%d/%s", hostileRoom, hostileToken)
}

func (h *hostile) close() {
	close(h.done)
	h.mu.Lock()
	for so := range h.sockets {
		_ = so.ws.Close()
	}
	h.mu.Unlock()
	h.srv.CloseClientConnections()
	h.srv.Close()
	h.wg.Wait()
}

// on replaces route's handler with hook (nil restores it).
func (h *hostile) on(route string, hook hostileHook) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hooks[route] = hook
}

// requests is how many requests route has had.
func (h *hostile) requests(route string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[route]
}

func (h *hostile) socketCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sockets)
}

// stall blocks a handler until the test ends or the client gives up.
func (h *hostile) stall(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-h.done:
	}
}

func (h *hostile) handleSocket(w http.ResponseWriter, r *http.Request) {
	l, _ := strconv.ParseInt(r.URL.Query().Get("l"), 10, 64)
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	so := &hostileSocket{ws: ws}
	h.mu.Lock()
	var missed []hostileEvent
	for _, ev := range h.events {
		if ev.ID > l {
			missed = append(missed, ev)
		}
	}
	if len(missed) > 0 {
		h.sendLocked(so, frameJSON(missed, h.cursor, h.cursor-l))
	}
	so.lastT = h.cursor
	h.sockets[so] = true
	if h.onOpen != nil {
		h.onOpen(func(frame string) { h.sendLocked(so, frame) })
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			break
		}
	}
	h.mu.Lock()
	delete(h.sockets, so)
	h.mu.Unlock()
	_ = ws.Close()
}

func frameJSON(evs []hostileEvent, t, d int64) string {
	b, _ := json.Marshal(map[string]any{"r" + strconv.Itoa(hostileRoom): map[string]any{"e": evs, "t": t, "d": d}})
	return string(b)
}

// sendLocked writes one frame to so; a socket that cannot take it is
// closed, as a real server drops a stuck client.
func (h *hostile) sendLocked(so *hostileSocket, frame string) {
	so.mu.Lock()
	defer so.mu.Unlock()
	_ = so.ws.SetWriteDeadline(time.Now().Add(waitLimit))
	if so.ws.WriteMessage(websocket.TextMessage, []byte(frame)) != nil {
		_ = so.ws.Close()
	}
}

// say posts text as user and publishes its event to every socket; it
// returns the message id and time stamp.
func (h *hostile) say(user int64, text string) (int64, int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cursor++
	h.nextMsg++
	name := "human"
	if user == hostileBot {
		name = "bot"
	}
	ev := hostileEvent{EventType: 1, TimeStamp: h.clock.Now().Unix(), ID: h.cursor, UserID: user,
		UserName: name, RoomID: hostileRoom, MessageID: h.nextMsg}
	h.texts[ev.MessageID] = text
	h.events = append(h.events, ev)
	for so := range h.sockets {
		h.sendLocked(so, frameJSON([]hostileEvent{ev}, ev.ID, ev.ID-so.lastT))
		so.lastT = ev.ID
	}
	return ev.MessageID, ev.TimeStamp
}

// sayHuman is say as the other person in the room, for tests.
func (h *hostile) sayHuman(text string) int64 {
	id, _ := h.say(hostileHuman, text)
	return id
}

// send writes a raw frame to every socket, leaving the cursor alone.
func (h *hostile) send(frame string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for so := range h.sockets {
		h.sendLocked(so, frame)
	}
}

// keepAlive sends every socket an empty frame at the current cursor.
func (h *hostile) keepAlive() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for so := range h.sockets {
		h.sendLocked(so, frameJSON(nil, h.cursor, h.cursor-so.lastT))
		so.lastT = h.cursor
	}
}

// restart moves the server-wide counter to t and forgets the event
// history, as a server restarted with a lower counter would; messages and
// their ids survive (they live in a database).
func (h *hostile) restart(t int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cursor = t
	h.events = nil
	for so := range h.sockets {
		so.lastT = t
	}
}

// poison sends every socket an empty frame claiming cursor t, consistent
// with itself ("d" is t minus the socket's last), without moving the
// server's counter.
func (h *hostile) poison(t int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for so := range h.sockets {
		h.sendLocked(so, frameJSON(nil, t, t-so.lastT))
	}
}

func (h *hostile) config(t *testing.T) sechat.Config {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return sechat.Config{
		BaseURL:    h.URL,
		Email:      "bot@example.com",
		Password:   password,
		Clock:      h.clock,
		HTTPClient: &http.Client{Transport: tr, Timeout: waitLimit},
	}
}

func (h *hostile) client(t *testing.T, edit ...func(*sechat.Config)) *sechat.Client {
	t.Helper()
	cfg := h.config(t)
	for _, e := range edit {
		e(&cfg)
	}
	c, err := sechat.NewClient(cfg)
	require.NoError(t, err)
	return c
}

func (h *hostile) dial(t *testing.T, edit ...func(*sechat.Config)) chatgateway.Conn {
	t.Helper()
	return dialRoom(t, h.client(t, edit...), hostileRoom)
}

// answer writes status and body.
func answer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}
