package sechat

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/supervisor"
)

const (
	// plainTries is how many times one Read asks for a message's plain
	// source before failing the connection (a 404 or 410, a deleted
	// message, skips it at once).
	plainTries = 3
	// plainRetryDelay is the wait, on the Clock, before the second try
	// of a plain-source fetch; it doubles for each later try. Without it,
	// three 503s came within a few milliseconds.
	plainRetryDelay = 500 * time.Millisecond
)

// closeGrace bounds writing the close frame, so Close never hangs on a
// stuck socket. It is network time, hence the real clock.
const closeGrace = time.Second

type roomDialer struct {
	c    *Client
	room int64
	name string // Identity.Room

	mu       sync.Mutex
	cursor   int64     // the room cursor up to which Read has returned everything
	cursorAt time.Time // when cursor last moved, on the Clock
	lastMsg  int64     // the highest message id Read has returned or skipped
	// failedMsg is the message whose plain source the last failed
	// connections could not fetch, and failures on how many in a row.
	failedMsg int64
	failures  int
	lastPost  postMark // the last Post made through this Dialer's conns
	echoes    echoes   // own posts' texts, for their echoes
}

// postMark identifies a post attempt: which conn made it, and a hash of the
// text (not the text, which may be a megabyte).
type postMark struct {
	conn *conn
	text [sha256.Size]byte
}

// markPost records that k is about to post text and returns the new mark
// and the previous one.
func (d *roomDialer) markPost(k *conn, text string) (mark, prev postMark) {
	m := postMark{conn: k, text: sha256.Sum256([]byte(text))}
	d.mu.Lock()
	defer d.mu.Unlock()
	prev = d.lastPost
	d.lastPost = m
	return m, prev
}

// unmarkPost puts prev back when the attempt marked mark certainly did not
// post (a 409), unless another attempt has been marked since.
func (d *roomDialer) unmarkPost(mark, prev postMark) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lastPost == mark {
		d.lastPost = prev
	}
}

// Dial joins the room: it logs in if need be, gets the room's event cursor
// (POST /chats/<room>/events), a socket URL (POST /ws-auth), and opens the
// socket at url?l=<cursor> with Origin set to the chat site, without which
// SE drops the socket at once.
//
// The first Dial reads messages posted from then on. A later Dial of the
// same Dialer, within ResumeWindow of the last frame its previous Conn
// read, opens the socket at that Conn's last cursor instead, so that the
// server replays what was said while the socket was down (the gateway's
// router drops what it has already seen). This assumes, as the frames
// JamesSOBot shows and the sechattest server do, that a frame's "t" and the
// events call's "time" count the same server-wide event ids.
func (d *roomDialer) Dial(ctx context.Context) (chatgateway.Conn, error) {
	c := d.c
	_, self, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	self.Room = d.name
	room := strconv.FormatInt(d.room, 10)
	resp, err := c.postFkey(ctx, "/chats/"+room+"/events",
		url.Values{"since": {"0"}, "mode": {"Messages"}, "msgCount": {"1"}})
	if err != nil {
		return nil, err
	}
	var events struct {
		Time *int64 `json:"time"`
	}
	if err := answerJSON(resp, "room events", &events); err != nil {
		return nil, err
	}
	if events.Time == nil {
		return nil, errors.New("sechat: room events: answer has no time")
	}
	resp, err = c.postFkey(ctx, "/ws-auth", url.Values{"roomid": {room}})
	if err != nil {
		return nil, err
	}
	var auth struct {
		URL string `json:"url"`
	}
	if err := answerJSON(resp, "ws-auth", &auth); err != nil {
		return nil, err
	}
	if auth.URL == "" {
		return nil, errors.New("sechat: ws-auth: answer has no url")
	}
	// The socket URL holds an access token: it stays out of every error
	// (redactErr, with the path dropped too) and every log.
	wsURL, err := url.Parse(auth.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadSocketURL, redactErr(err, false))
	}
	if wsURL.Scheme != "ws" && wsURL.Scheme != "wss" {
		return nil, fmt.Errorf("%w: scheme %q, want ws or wss", errBadSocketURL, wsURL.Scheme)
	}
	from, resync := d.resumeFrom(*events.Time)
	if resync {
		from = d.resync(ctx, *events.Time)
	}
	q := wsURL.Query()
	q.Set("l", strconv.FormatInt(from, 10))
	wsURL.RawQuery = q.Encode()
	ws, hs, err := c.wsDialer().DialContext(ctx, wsURL.String(),
		http.Header{"Origin": {c.origin}, "User-Agent": {userAgent}})
	if err != nil {
		if hs != nil {
			return nil, fmt.Errorf("sechat: opening room %d's socket: HTTP %d: %w", d.room, hs.StatusCode, redactErr(err, false))
		}
		return nil, fmt.Errorf("sechat: opening room %d's socket: %w", d.room, redactErr(err, false))
	}
	ws.SetReadLimit(maxBody)
	// The socket brings everything after from, so a socket that dies
	// before its first frame still resumes from here. This may move the
	// cursor back, after a server's counter restarted lower.
	d.setCursor(from)
	k := newConn(c, d, self, ws, from, *events.Time)
	if from != *events.Time {
		k.log.Info().Int64("missed_events", *events.Time-from).Msg("resuming room socket where the last one stopped")
	}
	return k, nil
}

// resumeFrom is the ?l= cursor for a new socket when the server's cursor is
// now: the previous socket's last cursor if recent, else now. resync says
// the previous cursor is recent but ahead of the server's: the server's
// counter restarted lower (or the cursor was corrupt), so it cannot be
// resumed from, and Dial re-establishes one with resync.
func (d *roomDialer) resumeFrom(now int64) (from int64, resync bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cursor <= 0 || d.c.cfg.Clock.Now().Sub(d.cursorAt) > ResumeWindow {
		return now, false
	}
	if d.cursor > now {
		return now, true
	}
	return d.cursor, false
}

// resync finds where to resume when the server's cursor (now) is behind
// the resume cursor: just before the oldest of the room's recent message
// events whose message Read has not seen (message ids, unlike the cursor,
// come from the database and survive a restart), or now if there is none
// or the events cannot be had.
func (d *roomDialer) resync(ctx context.Context, now int64) int64 {
	resp, err := d.c.postFkey(ctx, "/chats/"+strconv.FormatInt(d.room, 10)+"/events",
		url.Values{"since": {"0"}, "mode": {"Messages"}, "msgCount": {strconv.Itoa(resyncEvents)}})
	var ans struct {
		Events []event `json:"events"`
	}
	if err == nil {
		err = answerJSON(resp, "room events", &ans)
	}
	d.mu.Lock()
	last, stale := d.lastMsg, d.cursor
	d.mu.Unlock()
	log := d.c.log.With().Str("room", d.name).Int64("cursor", stale).Int64("server_cursor", now).Logger()
	if err != nil {
		log.Warn().Err(err).Msg("server cursor behind ours, and no recent events to resume from; resuming from now")
		return now
	}
	for _, e := range ans.Events {
		if e.MessageID > last && e.ID > 0 && e.ID <= now {
			log.Warn().Int64("from", e.ID-1).Msg("server cursor behind ours (restarted?); resuming before the first message not read")
			return e.ID - 1
		}
	}
	log.Warn().Msg("server cursor behind ours (restarted?); nothing unread among recent events; resuming from now")
	return now
}

// setCursor re-establishes the resume cursor when a socket opens.
func (d *roomDialer) setCursor(t int64) {
	now := d.c.cfg.Clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cursor, d.cursorAt = t, now
}

// fetchFailed records that a connection failed on message id's plain
// source and returns on how many connections in a row it has.
func (d *roomDialer) fetchFailed(id int64) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failedMsg != id {
		d.failedMsg, d.failures = id, 0
	}
	d.failures++
	return d.failures
}

// fetchOK records that message id's plain source was had.
func (d *roomDialer) fetchOK(id int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failedMsg == id {
		d.failedMsg, d.failures = 0, 0
	}
}

// sawMessage records that Read is done with message id.
func (d *roomDialer) sawMessage(id int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastMsg = max(d.lastMsg, id)
}

// advance records that Read has returned everything up to cursor t.
func (d *roomDialer) advance(t int64) {
	if t <= 0 {
		return
	}
	now := d.c.cfg.Clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if t >= d.cursor {
		d.cursor, d.cursorAt = t, now
	}
}

// answerJSON decodes a 200 answer, or explains the status.
func answerJSON(resp *response, what string, v any) error {
	switch resp.status {
	case http.StatusOK:
	case http.StatusNotFound:
		return fmt.Errorf("sechat: %s: %w", what, notFoundError(resp.snippet()))
	default:
		return fmt.Errorf("sechat: %s: HTTP %d: %s", what, resp.status, resp.snippet())
	}
	if err := json.Unmarshal(resp.body, v); err != nil {
		return fmt.Errorf("sechat: %s: bad answer: %w", what, err)
	}
	return nil
}

// wsDialer dials like the HTTP client does: same cookies, proxy, TLS
// settings and dialer where its transport is an *http.Transport.
func (c *Client) wsDialer() *websocket.Dialer {
	d := &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: DefaultHTTPTimeout,
		Jar:              c.http.Jar,
	}
	if t, ok := c.http.Transport.(*http.Transport); ok && t != nil {
		d.Proxy = t.Proxy
		d.NetDialContext = t.DialContext
		d.TLSClientConfig = t.TLSClientConfig.Clone()
	}
	return d
}

// conn is one room's socket. Its pump goroutine is the socket's only
// reader; Read takes what the pump queued and fetches plain sources; Post
// only uses HTTP.
type conn struct {
	c    *Client
	d    *roomDialer
	room int64
	self chatgateway.Identity
	ws   *websocket.Conn
	log  zerolog.Logger

	// ctx ends on Close; it cancels the pump, Read's plain-source fetches
	// and Post.
	ctx    context.Context
	cancel context.CancelFunc

	frames   *frameQueue   // from the pump to Read
	pumpDone chan struct{} // closed when the pump has returned

	// Owned by the pump goroutine.
	lastT  int64 // the cursor where the last frame read left it, to spot lost frames
	anchor int64 // the events endpoint's cursor when dialing, to spot a first frame far ahead

	// inline is set while Read has an item's text on its own goroutine:
	// the pump then starts the fetches of the frames it queues.
	inline atomic.Bool

	// Owned by the Read goroutine.
	ahead   []*item // events taken from frames, in order, their texts being had
	started int     // how many of ahead have been started
	readErr error   // sticky: once Read failed, the socket is dead

	// The fetches, which Read and the pump start (tryStart).
	slots   chan struct{}  // one per fetch in flight, up to maxFetches
	fetches sync.WaitGroup // the fetcher goroutines
	work    chan *item     // to an idle fetcher
	idle    atomic.Int32   // fetchers waiting on work

	mu       sync.Mutex
	reason   error  // why the adapter closed the socket: chatgateway.ErrConnClosed, ErrSilent or ErrRefresh
	waitGen  uint64 // bumped when the pump starts and stops waiting for a frame
	liveness supervisor.Timer
	refresh  supervisor.Timer

	closeOnce sync.Once
}

var _ chatgateway.Conn = (*conn)(nil)

// newConn wraps an open socket; lastT and anchor are the cursors the pump
// checks the first frame against. It starts the pump.
func newConn(c *Client, d *roomDialer, self chatgateway.Identity, ws *websocket.Conn, lastT, anchor int64) *conn {
	k := &conn{c: c, d: d, room: d.room, self: self, ws: ws, lastT: lastT, anchor: anchor,
		frames: newFrameQueue(), pumpDone: make(chan struct{}), slots: make(chan struct{}, maxFetches), work: make(chan *item)}
	k.log = c.log.With().Str("room", d.name).Logger()
	k.ctx, k.cancel = context.WithCancel(context.Background())
	if c.cfg.RefreshInterval > 0 {
		k.mu.Lock()
		k.refresh = c.cfg.Clock.AfterFunc(c.cfg.RefreshInterval, k.refreshDue)
		k.mu.Unlock()
	}
	k.log.Info().Int64("user_id", self.UserID).Msg("room socket open")
	go k.pump()
	return k
}

// pump is the socket's one reader. It checks each frame's cursor and
// queues the room's events for Read; a socket error or an implausible or
// discontinuous cursor ends it, queued last, after closing the socket.
func (k *conn) pump() {
	defer close(k.pumpDone)
	for {
		data, err := k.next()
		if err != nil {
			k.frames.fail(err)
			return
		}
		evs, cur, err := roomEvents(data, k.room)
		if err != nil {
			k.log.Warn().Err(err).Int("len", len(data)).Msg("skipped socket frame")
			continue
		}
		if cur.T > 0 && !cur.plausible(k.lastT, k.anchor) {
			// Following it would move the resume cursor where no replay
			// comes from (far ahead), or behind what was read (a counter
			// restarted lower): fail the socket, without moving the
			// cursor, and let the next Dial re-establish it.
			k.log.Warn().Int64("server_cursor", cur.T).Int64("cursor", k.lastT).Msg("implausible socket cursor; closing the socket")
			k.closeSocket()
			k.frames.fail(fmt.Errorf("%w: frame cursor %d, the last frame read left it at %d", ErrBadCursor, cur.T, k.lastT))
			return
		}
		if cur.T > 0 && !cur.follows(k.lastT) {
			// Frames went missing (a socket that went quiet for a while
			// without dying): fail it, without moving the resume cursor, so
			// that the next socket replays what this one lost.
			k.closeSocket()
			k.frames.fail(fmt.Errorf("%w: frame follows cursor %d, the last frame read left it at %d", ErrFramesLost, cur.T-*cur.D, k.lastT))
			return
		}
		if cur.T > 0 {
			k.lastT = cur.T
		}
		size := 0
		if len(evs) > 0 {
			size = len(data)
		}
		// An own message in the frame can only be from a post begun by now.
		its := k.items(evs, cur.T, k.d.echoes.begunSoFar())
		if k.frames.push(k.ctx, queuedFrame{items: its, t: cur.T, size: size}) != nil {
			return // closed
		}
		if k.inline.Load() { // Read is busy fetching: start these now
			for _, it := range its {
				if it.fetch && !k.tryStart(it) {
					break
				}
			}
		}
	}
}

// next waits for the socket's next frame, with the liveness deadline armed
// only while waiting: time the pump spends waiting for Read to make room
// does not count as the server's silence.
func (k *conn) next() ([]byte, error) {
	k.mu.Lock()
	if k.reason != nil {
		reason := k.reason
		k.mu.Unlock()
		return nil, k.reasonErr(reason, nil)
	}
	k.waitGen++
	gen := k.waitGen
	k.liveness = k.c.cfg.Clock.AfterFunc(k.c.cfg.LivenessTimeout, func() { k.silent(gen) })
	k.mu.Unlock()

	_, data, err := k.ws.ReadMessage()

	k.mu.Lock()
	k.waitGen++
	t := k.liveness
	k.liveness = nil
	reason := k.reason
	k.mu.Unlock()
	if t != nil {
		t.Stop()
	}
	if err != nil {
		return nil, k.reasonErr(reason, err)
	}
	return data, nil
}

func (k *conn) reasonErr(reason, err error) error {
	switch reason {
	case chatgateway.ErrConnClosed:
		return chatgateway.ErrConnClosed
	case ErrSilent:
		return fmt.Errorf("%w: no frame from room %d for %s", ErrSilent, k.room, k.c.cfg.LivenessTimeout)
	case ErrRefresh:
		return fmt.Errorf("%w: room %d's socket is %s old", ErrRefresh, k.room, k.c.cfg.RefreshInterval)
	}
	return fmt.Errorf("sechat: reading room %d's socket: %w", k.room, err)
}

// silent is the liveness timer: it closes the socket, so that the blocked
// ReadMessage returns, unless a frame came in first.
func (k *conn) silent(gen uint64) {
	k.mu.Lock()
	if k.waitGen != gen || k.reason != nil {
		k.mu.Unlock()
		return
	}
	k.reason = ErrSilent
	k.mu.Unlock()
	k.log.Warn().Dur("timeout", k.c.cfg.LivenessTimeout).Msg("room socket silent; closing it")
	_ = k.ws.Close()
}

// refreshDue is the refresh timer: it closes the socket cleanly (code 1000,
// as sochat4j does), so that Read returns ErrRefresh and the gateway dials
// a fresh one.
func (k *conn) refreshDue() {
	k.mu.Lock()
	if k.reason != nil {
		k.mu.Unlock()
		return
	}
	k.reason = ErrRefresh
	k.refresh = nil
	k.mu.Unlock()
	k.log.Info().Dur("age", k.c.cfg.RefreshInterval).Msg("refreshing room socket")
	k.closeSocket()
}

func (k *conn) closeSocket() {
	_ = k.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(closeGrace))
	_ = k.ws.Close()
}

var (
	errNoSuchMessage = errors.New("sechat: message not found")
	errFetchTimeout  = errors.New("sechat: plain source fetch timed out")
)

// plainSource fetches exactly what was typed (no auth needed), minus the
// zero-width characters SE inserts into long words. Each attempt is bounded
// by LivenessTimeout/plainTries on the Clock, so that all of them together
// take about one liveness timeout (plus the backoff): a server that stalls
// the fetch must not hold Read much longer than it may hold the socket
// silent. A failed
// attempt (any answer but 200, 404 and 410; a network error; the bound)
// is tried again after plainRetryDelay, doubling, up to plainTries
// attempts. 404 and 410 mean the message was deleted: errNoSuchMessage.
func (k *conn) plainSource(ctx context.Context, id int64) (string, error) {
	u := k.c.chatRoot + "/message/" + strconv.FormatInt(id, 10) + "?plain=true"
	var err error
	for try := range plainTries {
		if try > 0 {
			if err := k.sleep(ctx, plainRetryDelay<<(try-1)); err != nil {
				return "", err
			}
		}
		var resp *response
		resp, err = k.fetchBounded(ctx, u)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return "", err
			}
		case resp.status == http.StatusOK:
			return stripZeroWidth(string(resp.body)), nil
		case resp.status == http.StatusNotFound || resp.status == http.StatusGone:
			return "", errNoSuchMessage
		default:
			err = fmt.Errorf("sechat: plain source of message %d: HTTP %d", id, resp.status)
		}
	}
	return "", err
}

// fetchBounded GETs u, giving up after LivenessTimeout/plainTries on the
// Clock.
func (k *conn) fetchBounded(ctx context.Context, u string) (*response, error) {
	bound := k.c.cfg.LivenessTimeout / plainTries
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	t := k.c.cfg.Clock.AfterFunc(bound, func() { cancel(errFetchTimeout) })
	defer t.Stop()
	resp, err := k.c.do(ctx, k.c.http, http.MethodGet, u, nil)
	if err != nil && errors.Is(context.Cause(ctx), errFetchTimeout) {
		return nil, fmt.Errorf("%w after %s: %w", errFetchTimeout, bound, err)
	}
	return resp, err
}

// Post posts text to the room and returns the new message's id, or 0 when
// SE answers with the post's time but no id ({"time":…}): that post landed.
//
// SE refuses a text equal to the account's previous message in the room
// ({"id":null,"time":null}), which Post reports as ErrDuplicate, with one
// exception.
// The gateway posts a message again, unchanged, on the next connection when
// the connection died before the post's outcome was known; if the first
// post did land, SE refuses the copy as a duplicate. So when the last Post
// through this Dialer was the same text on an earlier Conn, Post looks up
// the account's latest message in the room and, if it is this text,
// returns its id as a success.
//
// Single-line text longer than MaxSingleLineLen characters is refused with
// an error wrapping chatgateway.ErrMessageTooLong without asking SE, which
// would refuse it too (text with an inner line break, such as every frame,
// has no known limit, which is why Limits reports none). Blank text is
// refused with ErrEmptyMessage.
//
// A 409 "You can perform this action again in N second(s)" means the post
// did not land: Post returns at once, after that one attempt, a
// chatgateway.RetryAfterError wrapping ErrThrottled with N clamped to
// [MinRetryAfter, MaxRetryAfter]. Post never sleeps or retries a 409
// itself: the gateway owns waiting and pacing, and a Post parked in a wait
// would hold the writer goroutine (and Close) hostage to the server's
// numbers. A stale fkey (HTTP 403) is refreshed and the post retried once.
// SE's refusals map to ErrDuplicate, ErrNoPermission, ErrRoomTimeout and
// chatgateway.Permanent(ErrAccountBlocked), each wrapping SE's text.
func (k *conn) Post(ctx context.Context, text string) (int64, error) {
	if k.ctx.Err() != nil {
		return 0, chatgateway.ErrConnClosed
	}
	trimmed := strings.TrimSpace(text)
	if trimmed == "" {
		return 0, chatgateway.Rejected(ErrEmptyMessage)
	}
	if n := utf8.RuneCountInString(trimmed); !strings.Contains(trimmed, "\n") && n > MaxSingleLineLen {
		return 0, fmt.Errorf("%w: single-line message of %d characters, SE allows %d", chatgateway.ErrMessageTooLong, n, MaxSingleLineLen)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(k.ctx, cancel)()

	n := k.d.echoes.begin()
	id, err := k.post(ctx, text)
	k.d.echoes.end(n, id, text)
	return id, err
}

// post is one attempt of Post's, past its checks.
func (k *conn) post(ctx context.Context, text string) (int64, error) {
	mark, prev := k.d.markPost(k, text)
	path := "/chats/" + strconv.FormatInt(k.room, 10) + "/messages/new"
	resp, err := k.c.postFkey(ctx, path, url.Values{"text": {text}})
	if err != nil {
		return 0, k.postErr(err)
	}
	id, err := postAnswer(resp)
	switch {
	case err == nil && id == 0:
		// Only a post gets a time: it landed, under an id we do not know.
		// Its echo is read like anyone's message (a fetch of its source),
		// as nothing is remembered under id 0.
		k.log.Debug().Msg("post answered with a time but no id")
		return 0, nil
	case err == nil:
		return id, nil
	case errors.Is(err, ErrDuplicate):
		if k.repeatOfEarlierAttempt(prev, text) {
			if id, ok := k.landed(ctx, text); ok {
				k.log.Info().Int64("message_id", id).Msg("post repeated after a reconnect had already landed")
				return id, nil
			}
		}
	case errors.Is(err, ErrThrottled):
		// Not posted: an earlier attempt of the same text on another conn
		// is still the one a later duplicate answer may be about.
		k.d.unmarkPost(mark, prev)
		k.log.Debug().Err(err).Msg("post throttled")
	}
	return 0, err
}

// postAnswer reads SE's answer to a post: the new message's id (0 when the
// answer has the post's time but no id: it landed, id unknown), or the
// error for the gateway. SE refuses the same text twice in a row, for
// good, with {"id":null,"time":null}: Rejected(ErrDuplicate). A 409 is a
// RetryAfter wrapping ErrThrottled, which the gateway holds the post for,
// and paces later ones by, rather than take the connection for dead.
func postAnswer(resp *response) (int64, error) {
	switch resp.status {
	case http.StatusOK:
		var ans struct {
			ID   *int64   `json:"id"`
			Time *float64 `json:"time"`
		}
		if err := json.Unmarshal(resp.body, &ans); err != nil {
			return 0, fmt.Errorf("sechat: post: bad answer: %w", err)
		}
		switch {
		case ans.ID != nil:
			return *ans.ID, nil
		case ans.Time != nil:
			return 0, nil
		}
		return 0, chatgateway.Rejected(ErrDuplicate)
	case http.StatusConflict:
		return 0, chatgateway.RetryAfter(throttleWait(resp.text()), fmt.Errorf("%w: %s", ErrThrottled, resp.snippet()))
	case http.StatusNotFound:
		return 0, notFoundError(resp.snippet())
	}
	return 0, postStatusError(resp)
}

// postStatusError is what Post returns for an answer other than 200, 404
// and 409. Each class of status is decided here, and documented in the
// package doc:
//   - 400, 405, 411, 413, 414, 415, 422: the request as made is refused and
//     always will be (a text SE will not take, too large, or malformed), so
//     posting it again can only loop: chatgateway.Rejected, with 413 and 414
//     also chatgateway.ErrMessageTooLong.
//   - 408, 425, 429: a refusal for now: chatgateway.RetryAfter, after the
//     Retry-After header's seconds (DefaultRetryAfter without one), clamped
//     like a 409.
//   - anything else (401 and a 403 that survived an fkey refresh: a session
//     that may need a new login; 5xx: a server in trouble): a plain error,
//     so that the gateway reconnects with backoff, dialing logs in afresh
//     when the chat page shows the session logged out, and posts again.
func postStatusError(resp *response) error {
	err := fmt.Errorf("sechat: post: HTTP %d: %s", resp.status, resp.snippet())
	switch resp.status {
	case http.StatusRequestEntityTooLarge, http.StatusRequestURITooLong:
		return chatgateway.Rejected(fmt.Errorf("%w: %w", chatgateway.ErrMessageTooLong, err))
	case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusLengthRequired,
		http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
		return chatgateway.Rejected(err)
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return chatgateway.RetryAfter(retryAfterHeader(resp.header.Get("Retry-After")), err)
	}
	return err
}

// repeatOfEarlierAttempt reports whether text repeats the last post
// attempt through this Dialer, made on an earlier conn: then a duplicate
// answer may mean that attempt landed. It compares hashes of the text.
func (k *conn) repeatOfEarlierAttempt(prev postMark, text string) bool {
	return prev.conn != nil && prev.conn != k && prev.text == sha256.Sum256([]byte(text))
}

// landed looks for text among the account's latest messages in the room
// (the latest few: other instances on the account may have posted since SE
// compared it) and returns its id.
func (k *conn) landed(ctx context.Context, text string) (int64, bool) {
	resp, err := k.c.postFkey(ctx, "/chats/"+strconv.FormatInt(k.room, 10)+"/events",
		url.Values{"since": {"0"}, "mode": {"Messages"}, "msgCount": {"100"}})
	if err != nil {
		return 0, false
	}
	var ans struct {
		Events []event `json:"events"`
	}
	if answerJSON(resp, "room events", &ans) != nil {
		return 0, false
	}
	const recent = 10
	checked := 0
	for i := len(ans.Events) - 1; i >= 0 && checked < recent; i-- {
		if e := ans.Events[i]; e.UserID == k.self.UserID && e.MessageID != 0 {
			checked++
			if plain, err := k.plainSource(ctx, e.MessageID); err == nil && plain == stripZeroWidth(text) {
				return e.MessageID, true
			}
		}
	}
	return 0, false
}

// postErr reports a post cut short by Close as ErrConnClosed.
func (k *conn) postErr(err error) error {
	if k.ctx.Err() != nil {
		return chatgateway.ErrConnClosed
	}
	return err
}

// sleep waits d on the configured clock, or until ctx ends.
func (k *conn) sleep(ctx context.Context, d time.Duration) error {
	done := make(chan struct{})
	t := k.c.cfg.Clock.AfterFunc(d, func() { close(done) })
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Identity is the account as the chat page showed it when dialing, and the
// room, named "<chat host>/rooms/<id>".
func (k *conn) Identity() chatgateway.Identity { return k.self }

// Limits reports no length limit: SE's only known limit is on single-line
// messages, which Post enforces itself; frames are multi-line. Reporting
// 500 would make the node refuse every payload SE would take.
func (k *conn) Limits() chatgateway.Limits { return chatgateway.Limits{} }

// Close closes the socket and stops the timers; a blocked Read returns
// chatgateway.ErrConnClosed, and a Post in progress (or waiting out a 409)
// returns it too. It is idempotent and returns nil.
func (k *conn) Close() error {
	k.closeOnce.Do(func() {
		k.mu.Lock()
		k.reason = chatgateway.ErrConnClosed
		timers := []supervisor.Timer{k.liveness, k.refresh}
		k.liveness, k.refresh = nil, nil
		k.mu.Unlock()
		for _, t := range timers {
			if t != nil {
				t.Stop()
			}
		}
		k.cancel()
		k.closeSocket()
		<-k.pumpDone     // it ends on the closed socket or the cancelled ctx
		k.fetches.Wait() // they end on the cancelled ctx
		k.log.Debug().Msg("room socket closed")
	})
	return nil
}
