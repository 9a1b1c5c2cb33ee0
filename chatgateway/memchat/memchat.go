package memchat

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/messages"
)

// DefaultMaxMessageLen is a Room's post length limit, in bytes, unless
// WithMaxMessageLen sets another.
const DefaultMaxMessageLen = 64 << 10

var (
	// ErrBroken is what a Conn's Read and Post return after Member.Break.
	ErrBroken = errors.New("memchat: connection broken")
	// ErrInjected is the failure FailPosts and FailDials use when given a
	// nil error.
	ErrInjected = errors.New("memchat: injected failure")
	// ErrUnknownMessage is returned by Room.Edit for an ID never posted.
	ErrUnknownMessage = errors.New("memchat: unknown message")
)

// Entry is one message in a Room's transcript.
type Entry struct {
	messages.ChatMessage
	// Via is the connection name of the Member that posted it, or "" for
	// Room.Say.
	Via string
}

// RoomOption configures a Room.
type RoomOption func(*Room)

// WithMaxMessageLen sets the longest text, in bytes, that Conn.Post accepts;
// Conn.Limits reports it. n <= 0 means no limit (reported as 0).
func WithMaxMessageLen(n int) RoomOption {
	return func(r *Room) { r.maxLen = max(n, 0) }
}

// WithName sets the room's name, which its connections report as
// Identity.Room. Defaults to "memchat/" and a number unique in the process.
func WithName(name string) RoomOption {
	return func(r *Room) { r.name = name }
}

// WithPostRate makes the room's connections report a server that allows
// one post per interval after a burst of burst (Limits.PostInterval and
// PostBurst), so that a gateway paces its posts. The room itself does not
// enforce it. Defaults to no limit.
func WithPostRate(interval time.Duration, burst int) RoomOption {
	return func(r *Room) { r.postInterval, r.postBurst = interval, burst }
}

// Room is an in-process chat room. Create it with NewRoom; it is safe for
// concurrent use.
type Room struct {
	name         string
	maxLen       int
	postInterval time.Duration
	postBurst    int

	// mu guards everything below and every Member's and conn's state. One
	// lock keeps it simple and makes appending to the transcript and
	// delivering to every inbox one atomic step, so all readers see the
	// room's order.
	mu         sync.Mutex
	transcript []Entry // transcript[i].ID == i+1
	live       map[*conn]struct{}
	// changed is closed and replaced on every post and edit, waking
	// WaitFor without polling.
	changed chan struct{}
}

// roomSeq numbers the rooms of a process, for their default names.
var roomSeq atomic.Int64

// NewRoom returns an empty room.
func NewRoom(opts ...RoomOption) *Room {
	r := &Room{
		name:    "memchat/" + strconv.FormatInt(roomSeq.Add(1), 10),
		maxLen:  DefaultMaxMessageLen,
		live:    make(map[*conn]struct{}),
		changed: make(chan struct{}),
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Member returns a new chat client of the room logged in as id; connName
// names it in the transcript (Entry.Via). Several members may share one
// account. Each call returns a distinct Member.
func (r *Room) Member(id chatgateway.Identity, connName string) *Member {
	return &Member{room: r, id: id, name: connName}
}

// Say posts text as a person rather than a connection (a human typing a
// command) and returns its message ID. It is not subject to the length
// limit.
func (r *Room) Say(id chatgateway.Identity, text string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.postLocked(id, "", text)
}

// postLocked appends to the transcript and delivers to every live conn,
// including the poster's own.
func (r *Room) postLocked(id chatgateway.Identity, via, text string) int64 {
	msg := messages.ChatMessage{
		ID:       int64(len(r.transcript)) + 1,
		UserID:   id.UserID,
		UserName: id.UserName,
		Account:  id.Account,
		Text:     text,
		Time:     time.Now(),
	}
	r.transcript = append(r.transcript, Entry{ChatMessage: msg, Via: via})
	r.deliverLocked(msg)
	return msg.ID
}

func (r *Room) deliverLocked(msg messages.ChatMessage) {
	for c := range r.live {
		c.inbox = append(c.inbox, msg)
		c.cond.Signal() // one reader per conn
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// Edit replaces the text of message msgID and delivers the edit (same ID,
// Edited set, Time now) to every live conn. The transcript keeps one entry
// per ID, updated in place (Text replaced, Edited set, Time of the
// original post), as a real room's history shows it.
func (r *Room) Edit(msgID int64, text string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if msgID < 1 || msgID > int64(len(r.transcript)) {
		return fmt.Errorf("%w: %d", ErrUnknownMessage, msgID)
	}
	e := &r.transcript[msgID-1]
	e.Text = text
	e.Edited = true
	msg := e.ChatMessage
	msg.Time = time.Now()
	r.deliverLocked(msg)
	return nil
}

// Transcript returns a copy of every message posted so far, in ID order.
func (r *Room) Transcript() []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Entry(nil), r.transcript...)
}

// WaitFor blocks until cond, given a copy of the transcript, returns true,
// and returns that copy. cond is evaluated now and again after every post
// and edit, outside the room's lock. If ctx ends first, WaitFor returns the
// last transcript it evaluated and ctx.Err().
func (r *Room) WaitFor(ctx context.Context, cond func([]Entry) bool) ([]Entry, error) {
	for {
		r.mu.Lock()
		snap := append([]Entry(nil), r.transcript...)
		changed := r.changed
		r.mu.Unlock()
		if cond(snap) {
			return snap, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return snap, ctx.Err()
		}
	}
}

// Member is one chat client of a Room: an account plus a connection name.
// It implements chatgateway.Dialer. It has at most one live Conn: dialing
// again closes the previous one. It receives only messages posted while it
// has a live Conn, as a websocket that was down misses what was said.
type Member struct {
	room *Room
	id   chatgateway.Identity
	name string

	// Guarded by room.mu.
	cur       *conn // the live conn, nil if none
	dials     int
	failPosts int
	postErr   error
	failDials int
	dialErr   error
}

var _ chatgateway.Dialer = (*Member)(nil)

// Dial opens a new Conn, closing the member's previous one. It fails with
// ctx.Err() if ctx is done, or with the FailDials error while that lasts.
func (m *Member) Dial(ctx context.Context) (chatgateway.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.failDials > 0 {
		m.failDials--
		return nil, m.dialErr
	}
	if m.cur != nil {
		m.cur.closeLocked()
	}
	c := &conn{member: m}
	c.cond.L = &r.mu
	r.live[c] = struct{}{}
	m.cur = c
	m.dials++
	return c, nil
}

// Break makes the member's live Conn fail, as a dropped socket does: its
// Read returns, at once and without the messages still queued, an error
// wrapping ErrBroken and err (if not nil); its Post fails the same way;
// it receives nothing more. Break does nothing when there is no live Conn.
func (m *Member) Break(err error) {
	switch {
	case err == nil:
		err = ErrBroken
	case !errors.Is(err, ErrBroken):
		err = fmt.Errorf("%w: %w", ErrBroken, err)
	}
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	c := m.cur
	if c == nil {
		return
	}
	c.err = err
	c.inbox = nil
	c.detachLocked()
	c.cond.Broadcast() // wake any reader, even a misused second one
}

// FailPosts makes the next n Post calls on the member's Conns fail with err
// (ErrInjected if nil) without posting; the Conn stays live. It replaces any
// earlier FailPosts; n <= 0 cancels it.
func (m *Member) FailPosts(n int, err error) {
	if err == nil {
		err = ErrInjected
	}
	m.room.mu.Lock()
	defer m.room.mu.Unlock()
	m.failPosts, m.postErr = max(n, 0), err
}

// FailDials makes the next n Dial calls fail with err (ErrInjected if nil).
// Wrap err with chatgateway.Permanent to test giving up. It replaces any
// earlier FailDials; n <= 0 cancels it.
func (m *Member) FailDials(n int, err error) {
	if err == nil {
		err = ErrInjected
	}
	m.room.mu.Lock()
	defer m.room.mu.Unlock()
	m.failDials, m.dialErr = max(n, 0), err
}

// Dials reports how many Dial calls have succeeded.
func (m *Member) Dials() int {
	m.room.mu.Lock()
	defer m.room.mu.Unlock()
	return m.dials
}

// conn is a Member's connection. All its state is guarded by room.mu.
type conn struct {
	member *Member
	cond   sync.Cond // signalled on delivery, break and close
	inbox  []messages.ChatMessage
	err    error // set by Break
	closed bool
}

var _ chatgateway.Conn = (*conn)(nil)

// Read returns the next message, blocking until one arrives or the conn is
// closed (chatgateway.ErrConnClosed) or broken.
func (c *conn) Read() (messages.ChatMessage, error) {
	c.cond.L.Lock()
	defer c.cond.L.Unlock()
	for {
		switch {
		case c.closed:
			return messages.ChatMessage{}, chatgateway.ErrConnClosed
		case c.err != nil:
			return messages.ChatMessage{}, c.err
		case len(c.inbox) > 0:
			msg := c.inbox[0]
			c.inbox[0] = messages.ChatMessage{}
			c.inbox = c.inbox[1:]
			if len(c.inbox) == 0 {
				c.inbox = nil // let the drained backing array go
			}
			return msg, nil
		}
		c.cond.Wait()
	}
}

// Post posts text to the room as the member's account and returns its ID.
// It never blocks, so it honours ctx only by refusing when ctx is already
// done.
func (c *conn) Post(ctx context.Context, text string) (int64, error) {
	m := c.member
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case c.closed:
		return 0, chatgateway.ErrConnClosed
	case c.err != nil:
		return 0, c.err
	case ctx.Err() != nil:
		return 0, ctx.Err()
	case m.failPosts > 0:
		m.failPosts--
		return 0, m.postErr
	case r.maxLen > 0 && len(text) > r.maxLen:
		return 0, fmt.Errorf("%w: %d bytes, limit %d", chatgateway.ErrMessageTooLong, len(text), r.maxLen)
	}
	return r.postLocked(m.id, m.name, text), nil
}

// Identity is the member's account, in the room.
func (c *conn) Identity() chatgateway.Identity {
	id := c.member.id
	id.Room = c.member.room.name
	return id
}

// Limits reports the room's length limit.
func (c *conn) Limits() chatgateway.Limits {
	r := c.member.room
	return chatgateway.Limits{MaxMessageLen: r.maxLen, PostInterval: r.postInterval, PostBurst: r.postBurst}
}

// Close ends the conn; a blocked Read returns chatgateway.ErrConnClosed.
// It is idempotent and always returns nil.
func (c *conn) Close() error {
	c.cond.L.Lock()
	defer c.cond.L.Unlock()
	c.closeLocked()
	return nil
}

func (c *conn) closeLocked() {
	if c.closed {
		return
	}
	c.closed = true
	c.inbox = nil
	c.detachLocked()
	c.cond.Broadcast() // wake any reader, even a misused second one
}

// detachLocked stops deliveries to c and frees the member for a new Dial.
func (c *conn) detachLocked() {
	delete(c.member.room.live, c)
	if c.member.cur == c {
		c.member.cur = nil
	}
}
