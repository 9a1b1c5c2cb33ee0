package sechat

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/socketscience/socketscience/chatgateway"
)

// The pages are scraped with regular expressions rather than an HTML
// parser: only two things are read from them, and the module has no HTML
// parser dependency.
var (
	inputTag = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attrRE   = regexp.MustCompile(`(?s)([a-zA-Z_:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))`)
	userLink = regexp.MustCompile(`(?is)<a\b([^>]*)>(.*?)</a>`)
	userHref = regexp.MustCompile(`^/users/(-?\d+)(?:[/?#]|$)`)
	tagRE    = regexp.MustCompile(`(?s)<[^>]*>`)
	// SE says "…again in 3 seconds" and, since 2020 at least, "…again in
	// 1 second"; ChatExchange matched only the plural until Makyen's fix.
	throttleRE = regexp.MustCompile(`(?i)again in (\d+(?:\.\d+)?) seconds?`)
)

// attrs returns a tag's attributes, names lower-cased, values unescaped.
func attrs(tag string) map[string]string {
	m := make(map[string]string)
	for _, a := range attrRE.FindAllStringSubmatch(tag, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2] + a[3] + a[4])
	}
	return m
}

// findFkey returns the value of the page's input named (or with id) fkey.
func findFkey(page string) string {
	for _, tag := range inputTag.FindAllString(page, -1) {
		a := attrs(tag)
		if a["name"] == "fkey" || a["id"] == "fkey" {
			return a["value"]
		}
	}
	return ""
}

type chatPageInfo struct {
	fkey string
	self chatgateway.Identity // zero UserID: an anonymous visitor
}

// parseChatPage reads the chat fkey and the logged-in user from a chat page:
// the first link to /users/<id>/… in .topbar-menu-links is the account
// itself (ChatExchange and go-sechat read it the same way).
func parseChatPage(page string) chatPageInfo {
	info := chatPageInfo{fkey: findFkey(page)}
	i := strings.Index(page, "topbar-menu-links")
	if i < 0 {
		return info
	}
	for _, m := range userLink.FindAllStringSubmatch(page[i:], -1) {
		a := attrs(m[1])
		sm := userHref.FindStringSubmatch(a["href"])
		if sm == nil {
			continue
		}
		id, err := strconv.ParseInt(sm[1], 10, 64)
		if err != nil || id == 0 {
			continue
		}
		name := strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(m[2], "")))
		if name == "" {
			name = strings.TrimSpace(a["title"])
		}
		info.self = chatgateway.Identity{UserID: id, UserName: name}
		break
	}
	return info
}

// event is the part of a socket event the adapter reads.
type event struct {
	EventType int    `json:"event_type"`
	TimeStamp int64  `json:"time_stamp"`
	ID        int64  `json:"id"`
	UserID    int64  `json:"user_id"`
	UserName  string `json:"user_name"`
	RoomID    int64  `json:"room_id"`
	MessageID int64  `json:"message_id"`
	// Content is the message's rendered HTML; nil when absent (a deleted
	// message has none).
	Content *string `json:"content"`
}

const (
	eventMessagePosted = 1
	eventMessageEdited = 2
)

// roomEvents returns the message-posted and message-edited events for room
// in one socket frame, in the frame's order, each event id once, and the
// room's cursor "t" after them (0 if absent). Keys for other rooms, other
// event types (mentions and replies duplicate a 1 or 2 with the same
// message), and events without a message id are skipped.
//
// A frame of the usual shape is read by scanRoomEvents; any other is
// decoded with encoding/json in one pass, and only a frame with a value of
// an unexpected type somewhere (which one pass would half-decode) is read
// again piece by piece, by roomEventsByPiece, so that one odd event costs
// only itself.
func roomEvents(frame []byte, room int64) (events []event, cur cursor, err error) {
	if events, cur, ok := scanRoomEvents(frame, room); ok {
		return events, cur, nil
	}
	return decodeRoomEvents(frame, room)
}

// decodeRoomEvents is roomEvents by encoding/json.
func decodeRoomEvents(frame []byte, room int64) (events []event, cur cursor, err error) {
	var rooms map[string]struct {
		E []event `json:"e"`
		cursor
	}
	if err := json.Unmarshal(frame, &rooms); err != nil {
		if _, odd := errors.AsType[*json.UnmarshalTypeError](err); odd {
			return roomEventsByPiece(frame, room)
		}
		return nil, cursor{}, fmt.Errorf("sechat: bad socket frame: %w", err)
	}
	// Every room's entry carries the same server-wide cursor; a frame may
	// hold only other rooms' (those the account joined), and its cursor
	// still counts, for telling whether frames were lost.
	for _, r := range rooms {
		if r.T > 0 {
			cur = r.cursor
			break
		}
	}
	body, ok := rooms["r"+strconv.FormatInt(room, 10)]
	if !ok {
		return nil, cur, nil
	}
	if body.T > 0 {
		cur = body.cursor
	}
	var seen eventIDs
	for _, e := range body.E {
		if keepEvent(e, room, &seen) {
			events = append(events, e)
		}
	}
	return events, cur, nil
}

// keepEvent reports whether e is a message event for room whose event id
// is not in seen, and adds it.
func keepEvent(e event, room int64, seen *eventIDs) bool {
	if e.EventType != eventMessagePosted && e.EventType != eventMessageEdited {
		return false
	}
	if e.MessageID == 0 || (e.RoomID != 0 && e.RoomID != room) {
		return false
	}
	return e.ID == 0 || seen.add(e.ID)
}

// eventIDs is a set of event ids: a few in a slice (a frame's usual one
// or two, without allocating a map), a map past that.
type eventIDs struct {
	few  [4]int64
	n    int
	many map[int64]bool
}

// add adds id and reports whether it was new.
func (s *eventIDs) add(id int64) bool {
	for _, x := range s.few[:s.n] {
		if x == id {
			return false
		}
	}
	if s.many[id] {
		return false
	}
	if s.n < len(s.few) {
		s.few[s.n] = id
		s.n++
		return true
	}
	if s.many == nil {
		s.many = make(map[int64]bool)
	}
	s.many[id] = true
	return true
}

// roomEventsByPiece is roomEvents for a frame with a value of an unexpected
// type: it decodes each room's entry, and each event, on its own, skipping
// those that do not decode.
func roomEventsByPiece(frame []byte, room int64) (events []event, cur cursor, err error) {
	var rooms map[string]json.RawMessage
	if err := json.Unmarshal(frame, &rooms); err != nil {
		return nil, cursor{}, fmt.Errorf("sechat: bad socket frame: %w", err)
	}
	for _, raw := range rooms {
		var c cursor
		if json.Unmarshal(raw, &c) == nil && c.T > 0 {
			cur = c
			break
		}
	}
	raw, ok := rooms["r"+strconv.FormatInt(room, 10)]
	if !ok {
		return nil, cur, nil
	}
	var body struct {
		E []json.RawMessage `json:"e"`
		cursor
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, cur, fmt.Errorf("sechat: bad socket frame: %w", err)
	}
	if body.T > 0 {
		cur = body.cursor
	}
	var seen eventIDs
	for _, r := range body.E {
		var e event
		if json.Unmarshal(r, &e) != nil {
			continue // one odd event must not cost the others
		}
		if keepEvent(e, room, &seen) {
			events = append(events, e)
		}
	}
	return events, cur, nil
}

// cursor is a frame's place in the server's event stream: T the cursor
// after it, D how far the cursor moved since the socket's previous frame,
// so that T-D is where the previous frame left it. D is nil when the
// server does not say (what real SE means by "d" is not known for sure);
// 0 is a statement too: nothing happened since.
type cursor struct {
	T int64  `json:"t"`
	D *int64 `json:"d"`
}

// follows reports whether the frame's cursor continues from last, the
// cursor where the previous frame read left it; without a "d" it cannot
// tell, and says yes.
func (c cursor) follows(last int64) bool {
	return c.D == nil || last <= 0 || c.T-*c.D == last
}

// plausible reports whether the frame's cursor can follow last, where the
// previous frame left it: not behind it, and at most MaxCursorJump past it
// or past anchor, the events endpoint's cursor when the socket was dialed.
func (c cursor) plausible(last, anchor int64) bool {
	return c.T >= last && c.T-max(last, anchor, 0) <= MaxCursorJump // c.T > 0: no overflow
}

// throttleWait reads N from "You can perform this action again in N
// second(s)" and clamps it to [MinRetryAfter, MaxRetryAfter]: "0 seconds"
// means MinRetryAfter, a number too large to parse means MaxRetryAfter, and
// a text without a number means DefaultRetryAfter.
func throttleWait(body string) time.Duration {
	m := throttleRE.FindStringSubmatch(body)
	if m == nil {
		return DefaultRetryAfter
	}
	n, err := strconv.ParseFloat(m[1], 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		return DefaultRetryAfter
	case err != nil || n >= MaxRetryAfter.Seconds():
		return MaxRetryAfter
	}
	return max(time.Duration(n*float64(time.Second)), MinRetryAfter)
}

// retryAfterHeader reads an HTTP Retry-After header in seconds (an HTTP
// date is not worth trusting from a server that refuses us), clamped to
// [MinRetryAfter, MaxRetryAfter]; DefaultRetryAfter without one.
func retryAfterHeader(v string) time.Duration {
	return throttleWait("again in " + strings.TrimSpace(v) + " seconds")
}

// notFoundError maps the texts SE answers a refused post with (HTTP 404).
func notFoundError(body string) error {
	lower := strings.ToLower(body)
	switch {
	case strings.Contains(lower, "account is blocked"):
		return chatgateway.Permanent(fmt.Errorf("%w: %s", ErrAccountBlocked, body))
	case strings.Contains(lower, "timeout"):
		return fmt.Errorf("%w: %s", ErrRoomTimeout, body)
	default:
		// "The room does not exist, or you do not have permission", and
		// the 404 SE gives a POST that is not form-encoded.
		return fmt.Errorf("%w: %s", ErrNoPermission, body)
	}
}

// zeroWidth removes what SE inserts into long words of a message source;
// SmokeDetector strips the same two characters.
var zeroWidth = strings.NewReplacer("\u200b", "", "\u200c", "")

// stripZeroWidth is zeroWidth.Replace without its copy when s has neither
// character (both start with the byte 0xE2), as a frame never has.
func stripZeroWidth(s string) string {
	if strings.IndexByte(s, 0xe2) < 0 {
		return s
	}
	return zeroWidth.Replace(s)
}
