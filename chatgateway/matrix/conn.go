package matrix

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/messages"
)

const (
	// MaxEventSize is the largest event a homeserver accepts: 65 536 bytes
	// of the whole event as canonical JSON, signatures, hashes and the
	// references to earlier events included (the spec's limit, enforced
	// by Dendrite's gomatrixserverlib and by Synapse).
	MaxEventSize = 65536
	// EventReserve is the part of MaxEventSize kept for the event's own
	// fields around the body. Measured on Dendrite v0.13.8 (TestEventSize):
	// an m.notice from @bot-a:localhost takes 620 bytes besides its quoted
	// body (room id, sender, type, origin, timestamps, depth, hashes,
	// signature, three auth events, one prev event). The rest is room for
	// a sender id of 255 bytes, a longer room id and ten prev events, when
	// members post at once.
	EventReserve = 1536
	// MaxBodyLen is the longest body, as canonical JSON (quotes and
	// escapes included), that Post sends.
	MaxBodyLen = MaxEventSize - EventReserve
	// frameEscapes is what the control characters of a frame's or
	// fragment's prefix and end take as JSON escapes, besides their bytes.
	frameEscapes = 64
)

// conn is one connection: Read long-polls /sync, Post sends events.
type conn struct {
	d     *Dialer
	cli   *mautrix.Client
	room  id.RoomID
	ident chatgateway.Identity
	lim   chatgateway.Limits
	log   zerolog.Logger

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	once   sync.Once

	// Read's own (one reader goroutine).
	pending []timelineEvent // fetched, not yet returned
	next    string          // next_batch of the sync that filled pending
}

type timelineEvent struct {
	id  id.EventID
	msg messages.ChatMessage
}

var _ chatgateway.Conn = (*conn)(nil)

func (d *Dialer) newConn(cli *mautrix.Client, room id.RoomID) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	roomName := RoomName(room)
	c := &conn{
		d: d, cli: cli, room: room, ctx: ctx, cancel: cancel,
		ident: chatgateway.Identity{UserID: accountID(cli.UserID), UserName: cli.UserID.String(),
			Account: cli.UserID.String(), Room: roomName},
		lim: chatgateway.Limits{MaxMessageLen: MaxBodyLen - len(`""`) - frameEscapes,
			PostInterval: d.cfg.PostInterval, PostBurst: d.cfg.PostBurst},
		log: d.log.With().Str("room", roomName).Logger(),
	}
	return c
}

// RoomName is Identity.Room for a room: "matrix://server/!id:server",
// with server the room id's own (where the room was created). Room ids
// are the same for every member, on every homeserver and however it
// joined (an alias, a URL, a port), which aliases and URLs are not.
func RoomName(room id.RoomID) string {
	_, server, _ := strings.Cut(string(room), ":")
	return "matrix://" + server + "/" + string(room)
}

func (c *conn) Identity() chatgateway.Identity { return c.ident }
func (c *conn) Limits() chatgateway.Limits     { return c.lim }

// Close cancels the requests in flight; it does not log out (the token
// stays the Dialer's for the next connection).
func (c *conn) Close() error {
	c.once.Do(c.cancel)
	return nil
}

func (c *conn) closed() bool { return c.ctx.Err() != nil }

// Read returns the room's next message. It long-polls /sync from the
// Dialer's token; the token moves on only once every message of a sync
// has been returned, so a connection that dies in between is resumed
// from before them, and the Dialer's memory of returned event ids keeps
// them from coming twice.
func (c *conn) Read() (messages.ChatMessage, error) {
	for {
		if c.closed() {
			return messages.ChatMessage{}, chatgateway.ErrConnClosed
		}
		if len(c.pending) > 0 {
			ev := c.pending[0]
			c.pending = c.pending[1:]
			c.d.mu.Lock()
			dup := c.d.seen.has(ev.id)
			c.d.seen.add(ev.id)
			c.d.mu.Unlock()
			if !dup {
				return ev.msg, nil
			}
			continue
		}
		if c.next != "" {
			c.d.mu.Lock()
			c.d.since = c.next
			c.d.mu.Unlock()
			c.next = ""
		}
		if err := c.sync(); err != nil {
			return messages.ChatMessage{}, err
		}
	}
}

// sync makes one /sync and fills pending with the room's messages, the
// events of a gap before them first.
func (c *conn) sync() error {
	c.d.mu.Lock()
	since := c.d.since
	c.d.mu.Unlock()
	ctx, cancel := context.WithTimeoutCause(c.ctx, c.d.cfg.PollTimeout+c.d.cfg.LivenessTimeout, ErrSilent)
	defer cancel()
	resp, err := c.cli.FullSyncRequest(ctx, mautrix.ReqSync{
		Timeout: int(c.d.cfg.PollTimeout / time.Millisecond), Since: since,
		FilterID: syncFilter(c.room, c.d.cfg.TimelineLimit),
	})
	if err != nil {
		return c.failed(ctx, "sync", err)
	}
	if _, left := resp.Rooms.Leave[c.room]; left {
		return fmt.Errorf("%w %s", ErrLeft, c.room)
	}
	room := resp.Rooms.Join[c.room]
	if room == nil {
		c.next = resp.NextBatch
		return nil
	}
	events := room.Timeline.Events
	if room.Timeline.Limited && since != "" {
		gap, err := c.fillGap(since, room.Timeline.PrevBatch, events)
		if err != nil {
			return err
		}
		events = append(gap, events...)
	}
	for _, ev := range events {
		if m, ok := ChatMessage(ev, c.room); ok {
			c.pending = append(c.pending, timelineEvent{ev.ID, m})
		}
	}
	c.next = resp.NextBatch
	return nil
}

// failed names why a request of Read's failed: Close, the liveness
// deadline, or the server.
func (c *conn) failed(ctx context.Context, op string, err error) error {
	switch {
	case c.closed():
		return chatgateway.ErrConnClosed
	case errors.Is(context.Cause(ctx), ErrSilent):
		return fmt.Errorf("%w: %s: %w", ErrSilent, op, err)
	}
	return c.d.refusal(op, err)
}

// fillGap fetches, with /messages backwards from the timeline's
// prev_batch to since, what a limited sync left out, oldest first. It
// stops at since, at an event already returned, or after MaxGapEvents
// events or MaxGapBytes of content (then what lies before is lost, and
// logged as "gap not closed").
// /messages is rate limited (Dendrite: 5 requests per 500 ms and device):
// an M_LIMIT_EXCEEDED waits as asked, then asks again.
func (c *conn) fillGap(since, from string, timeline []*event.Event) ([]*event.Event, error) {
	inTimeline := make(map[id.EventID]bool, len(timeline))
	for _, ev := range timeline {
		inTimeline[ev.ID] = true
	}
	var gap []*event.Event
	closed, size := false, 0
	for from != "" && len(gap) < MaxGapEvents && size < MaxGapBytes {
		ctx, cancel := context.WithTimeoutCause(c.ctx, c.d.cfg.RequestTimeout, ErrSilent)
		resp, err := c.cli.Messages(ctx, c.room, from, since, mautrix.DirectionBackward, nil, gapPage)
		if err != nil {
			err = c.failed(ctx, "messages", err)
			cancel()
			var ra *chatgateway.RetryAfterError
			if errors.As(err, &ra) {
				if werr := c.wait(ra.After); werr != nil {
					return nil, werr
				}
				continue
			}
			return nil, err
		}
		cancel()
		c.d.mu.Lock()
		for _, ev := range resp.Chunk {
			if c.d.seen.has(ev.ID) {
				closed = true
				break
			}
			if !inTimeline[ev.ID] {
				gap = append(gap, ev)
				size += len(ev.Content.VeryRaw)
			}
		}
		c.d.mu.Unlock()
		if closed || len(resp.Chunk) == 0 || resp.End == "" || resp.End == from {
			closed = true
			break
		}
		from = resp.End
	}
	if !closed {
		c.log.Warn().Int("count", len(gap)).Msg("gap not closed")
	} else {
		c.log.Info().Int("count", len(gap)).Msg("gap filled")
	}
	slices.Reverse(gap)
	return gap, nil
}

// wait sleeps for d or until Close.
func (c *conn) wait(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.ctx.Done():
		return chatgateway.ErrConnClosed
	}
}

// Post sends text as the body of an m.notice with TxnID's transaction id,
// and returns MessageID of the new event. See the package doc for how
// refusals are classified.
func (c *conn) Post(ctx context.Context, text string) (int64, error) {
	if c.closed() {
		return 0, chatgateway.ErrConnClosed
	}
	switch {
	case text == "":
		return 0, chatgateway.Rejected(ErrEmptyMessage)
	case !utf8.ValidString(text):
		return 0, chatgateway.Rejected(ErrInvalidUTF8)
	}
	if n := BodyLen(text); n > MaxBodyLen {
		return 0, chatgateway.Rejected(fmt.Errorf("%w: body of %d bytes as JSON, at most %d fit in an event",
			chatgateway.ErrMessageTooLong, n, MaxBodyLen))
	}
	plain := messages.Classify(text) == messages.KindChat
	c.d.mu.Lock()
	txn := TxnID(text, c.d.plainSeq)
	c.d.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, c.d.cfg.RequestTimeout)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()
	resp, err := c.cli.SendMessageEvent(ctx, c.room, event.EventMessage,
		&event.MessageEventContent{MsgType: event.MsgNotice, Body: text}, mautrix.ReqSendEvent{TransactionID: txn})
	if err != nil {
		if c.closed() {
			return 0, chatgateway.ErrConnClosed
		}
		return 0, c.d.refusal("send", err)
	}
	if plain {
		c.d.mu.Lock()
		c.d.plainSeq++
		c.d.mu.Unlock()
	}
	return MessageID(resp.EventID), nil
}

// BodyLen is the length of text as a JSON string in canonical JSON, as
// the server measures the event: quotes, two-byte escapes for '"', '\\'
// and \b \f \n \r \t, six-byte \u00XX for the other control characters,
// every other character as its UTF-8 bytes.
func BodyLen(text string) int {
	n := 2
	for i := 0; i < len(text); i++ {
		switch b := text[i]; {
		case b == '"' || b == '\\' || b == '\b' || b == '\f' || b == '\n' || b == '\r' || b == '\t':
			n += 2
		case b < 0x20:
			n += 6
		default:
			n++
		}
	}
	return n
}
