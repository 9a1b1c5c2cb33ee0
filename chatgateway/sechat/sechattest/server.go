package sechattest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

const (
	// DefaultKeepAlive is how often a socket gets a keep-alive frame unless
	// WithKeepAlive sets another period.
	DefaultKeepAlive = 5 * time.Second
	// DefaultPartialThreshold is the length, in bytes, above which an
	// event's content is rendered 'partial' unless WithPartialThreshold
	// sets another.
	DefaultPartialThreshold = 500
	// DefaultSocketQueue is how many frames may wait for one socket's
	// writer before the server drops that socket as too slow, unless
	// WithSocketQueue sets another size.
	DefaultSocketQueue = 256
	// EditWindow is how long after posting a message its owner may still
	// edit it over HTTP (Tunaki uses 115 s; JamesSOBot says two minutes).
	// Server.Edit is not limited.
	EditWindow = 115 * time.Second
	// ForeignRoomOffset: a keep-alive frame now and then also carries the
	// key "r<room+ForeignRoomOffset>" (r999 for room 1), a room the socket
	// did not ask for, as real frames sometimes do.
	ForeignRoomOffset = 998
	// HistoryEvents is how many recent events per room the server keeps
	// for replay (the websocket's ?l= and POST /events). A socket down
	// while more than this many events happen cannot be caught up; how far
	// back real SE replays is not known. Generous, so that tests that
	// post thousands of messages under faults measure the client, not
	// this horizon.
	HistoryEvents = 20_000
	// maxBody bounds every request body.
	maxBody = 1 << 20
	// writeTimeout bounds one websocket write.
	writeTimeout = 10 * time.Second
)

// Bodies the real service answers a refused post with. TextRoomNotFound is
// what this server itself answers for an unknown room; the other two are
// for RejectPosts.
const (
	TextRoomNotFound   = "The room does not exist, or you do not have permission"
	TextAccountBlocked = "Your account is blocked, ending in 5 hours"
	TextRoomTimeout    = "The room is in timeout, ending in 58 seconds"
	TextInvalidFKey    = "Invalid fkey"
	TextLoginIncorrect = "The email or password is incorrect."
	TextNotYourMessage = "You can only edit your own messages"
	TextEditTooLate    = "It is too late to edit this message"
	TextNotYourDelete  = "You can only delete your own messages"
	TextDeleteTooLate  = "It is too late to delete this message"
	TextAlreadyDeleted = "This message has already been deleted."
)

// ThrottleText is the body of a 409 answer: "You can perform this action
// again in N seconds", singular when N is 1.
func ThrottleText(seconds int) string {
	if seconds == 1 {
		return "You can perform this action again in 1 second"
	}
	return fmt.Sprintf("You can perform this action again in %d seconds", seconds)
}

var (
	// ErrUnknownRoom is returned for a room ID that AddRoom never returned.
	ErrUnknownRoom = errors.New("sechattest: unknown room")
	// ErrUnknownUser is returned for a user ID that AddUser never returned.
	ErrUnknownUser = errors.New("sechattest: unknown user")
	// ErrUnknownMessage is returned for a message ID never posted, or deleted.
	ErrUnknownMessage = errors.New("sechattest: unknown message")
	// ErrEmptyText is returned for a post or edit whose text is empty or
	// only whitespace.
	ErrEmptyText = errors.New("sechattest: empty text")
	// ErrClosed is returned by WaitFor once the server is closed.
	ErrClosed = errors.New("sechattest: server closed")
)

// Option configures a Server.
type Option func(*Server)

// WithKeepAlive sets the keep-alive frame period. d <= 0 turns keep-alive
// frames off.
func WithKeepAlive(d time.Duration) Option { return func(s *Server) { s.keepAlive = d } }

// WithPartialThreshold sets the length, in bytes, above which event content
// is rendered 'partial' (truncated). n <= 0 never truncates.
func WithPartialThreshold(n int) Option { return func(s *Server) { s.partial = n } }

// WithZeroWidth makes the plain sources (/message/<id>?plain=true and the
// history page) carry a U+200B after every 20 runes of a word longer than
// 20 runes.
func WithZeroWidth(on bool) Option { return func(s *Server) { s.zeroWidth = on } }

// WithLogger sets the server's logger.
func WithLogger(l zerolog.Logger) Option { return func(s *Server) { s.log = l } }

// WithSocketQueue sets how many frames may wait for one socket's writer;
// when a frame does not fit, the server closes that socket abruptly, as a
// real server drops a client too slow to read. n < 1 means 1.
func WithSocketQueue(n int) Option { return func(s *Server) { s.queueSize = max(n, 1) } }

// User is a chat account.
type User struct {
	ID              int64
	Name            string
	Email, Password string
	// Moderator is shown as ♦ on the profile page; a moderator may pin
	// (owner-star) in every room. See SetModerator.
	Moderator bool
}

// Room is a chat room.
type Room struct {
	ID   int64
	Name string
}

// Message is one chat message as the server stores it.
type Message struct {
	ID, RoomID, UserID int64
	UserName, Text     string
	// Edits counts the edits; Text is the latest version.
	Edits int
	// Time is when the message was first posted.
	Time time.Time
	// Deleted is set once the message was deleted (Text keeps the last
	// version).
	Deleted bool
}

// Server is a local Stack Exchange chat server. Create it with NewServer or
// NewServerAt, and Close it when done. It is safe for concurrent use.
type Server struct {
	// URL is the base URL, http://127.0.0.1:<port>, of both the login site
	// and the chat site.
	URL string

	keepAlive time.Duration
	partial   int
	zeroWidth bool
	log       zerolog.Logger
	queueSize int

	ln   net.Listener
	srv  *http.Server
	wg   sync.WaitGroup // every goroutine the server started, incl. net/http's per connection
	done chan struct{}
	once sync.Once

	// mu guards everything below, and every user's, room's, message's and
	// socket's mutable state. Broadcasting happens under it, so every
	// socket sees events in cursor order.
	mu         sync.Mutex
	closed     bool
	now        func() time.Time
	users      map[int64]*user
	byEmail    map[string]*user
	rooms      map[int64]*room
	msgs       map[int64]*message
	nextUser   int64
	nextRoom   int64
	nextMsg    int64
	cursor     int64 // the last event ID issued, server-wide: the event "time"
	sessions   map[string]*session
	loginFKeys map[string]bool
	wsTokens   map[string]wsToken
	sockets    map[*socket]struct{}
	changed    chan struct{} // closed and replaced on every post, edit, delete

	throttleBurst  int
	throttleWindow time.Duration
	throttleWait   int
	nextThrottleN  int
	nextThrottleS  int
	rejectN        int
	rejectStatus   int
	rejectBody     string
	silent         bool
	delay          time.Duration
	posts          int
	requests       map[string]int
}

type user struct {
	User
	joined   map[int64]bool // rooms this user is in; their events reach all the user's sockets
	recent   []time.Time    // times of accepted HTTP posts, for Throttle
	lastSeen time.Time      // the last request carrying this user's acct cookie
}

type room struct {
	Room
	msgs   []*message
	events []event        // the last HistoryEvents events
	owners []int64        // user IDs, in the order AddRoomOwner added them
	seen   map[int64]bool // every user who was ever in the room: the pingable ones
}

type message struct {
	Message
	revisions []string       // earlier texts, oldest first
	lastEvent int64          // event ID of the last post/edit/delete/star
	parentID  int64          // the message this one replies to (":<id> text"), or 0
	starredBy map[int64]bool // user IDs who starred it
	pinnedBy  []int64        // user IDs who pinned (owner-starred) it, in order
}

type session struct {
	token string
	user  *user
	fkey  string // the chat fkey; "" until a chat page issues one
}

type wsToken struct {
	room int64
	user *user
}

// NewServer starts a server on 127.0.0.1 at a free port. It panics if it
// cannot listen, as httptest.NewServer does.
func NewServer(opts ...Option) *Server {
	s, err := NewServerAt("127.0.0.1:0", opts...)
	if err != nil {
		panic(fmt.Sprintf("sechattest: %v", err))
	}
	return s
}

// NewServerAt starts a server listening on addr (host:port). If the host is
// unspecified (":8080", "0.0.0.0:8080"), URL names 127.0.0.1.
func NewServerAt(addr string, opts ...Option) (*Server, error) {
	s := &Server{
		keepAlive:  DefaultKeepAlive,
		partial:    DefaultPartialThreshold,
		log:        zerolog.Nop(),
		queueSize:  DefaultSocketQueue,
		done:       make(chan struct{}),
		now:        time.Now,
		users:      make(map[int64]*user),
		byEmail:    make(map[string]*user),
		rooms:      make(map[int64]*room),
		msgs:       make(map[int64]*message),
		nextUser:   1000,
		sessions:   make(map[string]*session),
		loginFKeys: make(map[string]bool),
		wsTokens:   make(map[string]wsToken),
		sockets:    make(map[*socket]struct{}),
		changed:    make(chan struct{}),
		requests:   make(map[string]int),
	}
	for _, o := range opts {
		o(s)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.ln = ln
	tcp := ln.Addr().(*net.TCPAddr)
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	s.URL = "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port))
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(logWriter{s.log}, "", 0),
		// Count net/http's own per-connection goroutines so that Close can
		// wait for them, as httptest.Server does. StateNew runs on the
		// Serve goroutine, which is itself counted, so Add never races Wait.
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				s.wg.Add(1)
			case http.StateClosed, http.StateHijacked:
				s.wg.Done()
			}
		},
	}
	s.wg.Go(func() { _ = s.srv.Serve(ln) })
	if s.keepAlive > 0 {
		s.wg.Go(s.keepAliveLoop)
	}
	s.log.Info().Str("url", s.URL).Msg("sechattest: listening")
	return s, nil
}

type logWriter struct{ l zerolog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Close closes the listener and every socket (abruptly), and waits for every
// goroutine the server started. It may be called more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.done)
		close(s.changed) // wake WaitFor
		s.changed = make(chan struct{})
		s.mu.Unlock()
		_ = s.srv.Close() // listener and every connection net/http still tracks
		s.KillSockets(0)  // hijacked ones: the websockets
		s.wg.Wait()
		s.log.Info().Msg("sechattest: closed")
	})
}

// randHex returns 32 lowercase hex digits.
func randHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// AddUser creates an account that can log in with email and password.
func (s *Server) AddUser(name, email, password string) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addUserLocked(name, email, password).User
}

func (s *Server) addUserLocked(name, email, password string) *user {
	s.nextUser++
	u := &user{User: User{ID: s.nextUser, Name: name, Email: email, Password: password}, joined: make(map[int64]bool)}
	s.users[u.ID] = u
	if email != "" {
		s.byEmail[strings.ToLower(email)] = u
	}
	return u
}

// AddRoom creates a room.
func (s *Server) AddRoom(name string) Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextRoom++
	r := &room{Room: Room{ID: s.nextRoom, Name: name}, seen: make(map[int64]bool)}
	s.rooms[r.ID] = r
	return r.Room
}

// RoomURL is the room's page: the live transcript a person opens in a
// browser, and also a chat page (fkey, user link) for a logged-in client.
func (s *Server) RoomURL(roomID int64) string { return fmt.Sprintf("%s/rooms/%d", s.URL, roomID) }

// Say posts text to a room as a user, bypassing HTTP: no fkey, fault knob,
// throttle or duplicate check applies, and Posts does not count it. It
// fails only for an unknown room or user, or empty text.
func (s *Server) Say(roomID, userID int64, text string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[roomID]
	if !ok {
		return 0, ErrUnknownRoom
	}
	u, ok := s.users[userID]
	if !ok {
		return 0, ErrUnknownUser
	}
	if isBlank(text) {
		return 0, ErrEmptyText
	}
	return s.postLocked(r, u, text).ID, nil
}

// Edit replaces a message's text and sends event 2 to the room, bypassing
// HTTP (no owner check, no edit window).
func (s *Server) Edit(msgID int64, text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msgs[msgID]
	if !ok || m.Deleted {
		return ErrUnknownMessage
	}
	if isBlank(text) {
		return ErrEmptyText
	}
	s.editLocked(m, text)
	return nil
}

// Messages returns a copy of a room's messages, oldest first (nil for an
// unknown room).
func (s *Server) Messages(roomID int64) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messagesLocked(roomID)
}

func (s *Server) messagesLocked(roomID int64) []Message {
	r, ok := s.rooms[roomID]
	if !ok {
		return nil
	}
	out := make([]Message, len(r.msgs))
	for i, m := range r.msgs {
		out[i] = m.Message
	}
	return out
}

// WaitFor calls cond with the room's messages now and after every post,
// edit and delete, until it returns true, and returns those messages. It
// returns the last messages seen and an error when ctx ends (ctx.Err()) or
// the server closes (ErrClosed).
func (s *Server) WaitFor(ctx context.Context, roomID int64, cond func([]Message) bool) ([]Message, error) {
	for {
		s.mu.Lock()
		msgs := s.messagesLocked(roomID)
		changed, closed := s.changed, s.closed
		s.mu.Unlock()
		if cond(msgs) {
			return msgs, nil
		}
		if closed {
			return msgs, ErrClosed
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return msgs, ctx.Err()
		}
	}
}

// Throttle makes HTTP posts answer 409 ThrottleText(wait) for a user who
// already made burst accepted posts within the last window. burst 0 (the
// default) turns it off.
func (s *Server) Throttle(burst int, window time.Duration, wait int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttleBurst, s.throttleWindow, s.throttleWait = max(burst, 0), window, wait
}

// ThrottleNext makes the next n HTTP posts, by any user, answer 409
// ThrottleText(seconds).
func (s *Server) ThrottleNext(n, seconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextThrottleN, s.nextThrottleS = max(n, 0), seconds
}

// RejectPosts makes the next n HTTP posts answer status with body (for
// example 404 and TextAccountBlocked).
func (s *Server) RejectPosts(n, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectN, s.rejectStatus, s.rejectBody = max(n, 0), status, body
}

// ExpireFKeys invalidates every chat fkey issued so far: requests carrying
// one get 403 "Invalid fkey". The next GET of a chat page (with the acct
// cookie) issues a new one. Sessions (acct cookies) stay valid.
func (s *Server) ExpireFKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, se := range s.sessions {
		se.fkey = ""
	}
}

// KillSockets closes, without a close frame, every websocket of the user
// (userID 0: every websocket).
func (s *Server) KillSockets(userID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for so := range s.sockets {
		if userID == 0 || so.user.ID == userID {
			s.killLocked(so, "killed")
		}
	}
}

// Silence stops (on) or resumes (off) every outgoing frame: events,
// keep-alives and pongs, while sockets stay open, like a socket that died
// silently. Frames due while silent are dropped; posts are still stored.
func (s *Server) Silence(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent = on
}

// DelayFrames delays every outgoing frame by d from when it was queued
// (0 turns the delay off).
func (s *Server) DelayFrames(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = max(d, 0)
}

// Sockets returns how many websockets are open.
func (s *Server) Sockets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sockets)
}

// Posts returns how many posts via HTTP (POST /chats/<room>/messages/new)
// the server has accepted and stored.
func (s *Server) Posts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.posts
}

// Requests returns how many requests hit a path starting with prefix
// (e.g. "/message/", "/chats/1/messages/new").
func (s *Server) Requests(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for p, c := range s.requests {
		if strings.HasPrefix(p, prefix) {
			n += c
		}
	}
	return n
}

// ---- state changes; all run with s.mu held ----

func (s *Server) nextEventLocked(typ int, r *room, u *user) event {
	s.cursor++
	return event{
		EventType: typ,
		TimeStamp: s.now().Unix(),
		ID:        s.cursor,
		UserID:    u.ID,
		UserName:  u.Name,
		RoomID:    r.ID,
		RoomName:  r.Name,
	}
}

// joinLocked puts u in room r, with an event 3 (user entered), unless u is
// already there.
func (s *Server) joinLocked(r *room, u *user) {
	if u.joined[r.ID] {
		return
	}
	u.joined[r.ID] = true
	r.seen[u.ID] = true
	ev := s.nextEventLocked(3, r, u)
	ev.TargetUserID = u.ID
	s.publishLocked(r, ev)
}

// leaveLocked takes u out of room r, with an event 4 (user left).
func (s *Server) leaveLocked(r *room, u *user) {
	if !u.joined[r.ID] {
		return
	}
	delete(u.joined, r.ID)
	ev := s.nextEventLocked(4, r, u)
	ev.TargetUserID = u.ID
	s.publishLocked(r, ev)
}

func (s *Server) postLocked(r *room, u *user, text string) *message {
	s.joinLocked(r, u)
	s.nextMsg++
	m := &message{Message: Message{
		ID: s.nextMsg, RoomID: r.ID, UserID: u.ID, UserName: u.Name, Text: text, Time: s.now(),
	}, parentID: s.replyParentLocked(r, text), starredBy: make(map[int64]bool)}
	s.msgs[m.ID] = m
	r.msgs = append(r.msgs, m)
	ev := s.nextEventLocked(1, r, u)
	ev.MessageID = m.ID
	ev.Content = ptr(renderContent(text, s.partial))
	ev.ParentID, ev.ShowParent = m.parentID, m.parentID != 0
	m.lastEvent = ev.ID
	s.publishLocked(r, ev)
	s.notifyLocked()
	s.log.Debug().Int64("room_id", r.ID).Int64("user_id", u.ID).Int64("message_id", m.ID).Int("len", len(text)).Msg("sechattest: posted")
	return m
}

// replyParentLocked is the message a text replies to: ":<id> …" names it,
// when it is a message of room r; else 0.
func (s *Server) replyParentLocked(r *room, text string) int64 {
	rest, ok := strings.CutPrefix(text, ":")
	if !ok {
		return 0
	}
	end := strings.IndexFunc(rest, func(c rune) bool { return c < '0' || c > '9' })
	if end >= 0 {
		if c, _ := utf8.DecodeRuneInString(rest[end:]); !unicode.IsSpace(c) {
			return 0
		}
	}
	if end < 0 {
		end = len(rest)
	}
	id, err := strconv.ParseInt(rest[:end], 10, 64)
	if m := s.msgs[id]; err != nil || m == nil || m.RoomID != r.ID {
		return 0
	}
	return id
}

func (s *Server) editLocked(m *message, text string) {
	r, u := s.rooms[m.RoomID], s.users[m.UserID]
	m.revisions = append(m.revisions, m.Text)
	m.Text = text
	m.Edits++
	ev := s.nextEventLocked(2, r, u)
	ev.MessageID = m.ID
	ev.Content = ptr(renderContent(text, s.partial))
	ev.MessageEdits = m.Edits
	m.lastEvent = ev.ID
	s.publishLocked(r, ev)
	s.notifyLocked()
}

func (s *Server) deleteLocked(m *message) {
	r, u := s.rooms[m.RoomID], s.users[m.UserID]
	m.Deleted = true
	ev := s.nextEventLocked(10, r, u)
	ev.MessageID = m.ID
	ev.MessageEdits = m.Edits
	m.lastEvent = ev.ID
	s.publishLocked(r, ev)
	s.notifyLocked()
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// publishLocked records ev in the room's history and sends it to every
// socket of the room and every socket whose user is in the room.
func (s *Server) publishLocked(r *room, ev event) {
	r.events = append(r.events, ev)
	if len(r.events) > HistoryEvents {
		r.events = append(r.events[:0:0], r.events[len(r.events)-HistoryEvents:]...)
	}
	for so := range s.sockets {
		if so.room == r.ID || so.user.joined[r.ID] {
			s.sendLocked(so, map[string]any{roomKey(r.ID): roomFrame{E: []event{ev}, T: ev.ID, D: ev.ID - so.lastT}})
			so.lastT = ev.ID
		}
	}
}

func ptr[T any](v T) *T { return &v }

func isBlank(text string) bool { return strings.TrimSpace(text) == "" }

func roomKey(id int64) string { return fmt.Sprintf("r%d", id) }

// userByName returns the user with that name, creating one (who cannot log
// in) if there is none.
func (s *Server) userByNameLocked(name string) *user {
	var found *user
	for _, u := range s.users {
		if u.Name == name && (found == nil || u.ID < found.ID) {
			found = u
		}
	}
	if found != nil {
		return found
	}
	return s.addUserLocked(name, "", "")
}
