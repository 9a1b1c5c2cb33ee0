package matrix

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/socketscience/socketscience/messages"
)

// content is what the adapter reads of an m.room.message's content.
type content struct {
	MsgType   string  `json:"msgtype"`
	Body      *string `json:"body"`
	RelatesTo *struct {
		RelType string `json:"rel_type"`
		EventID string `json:"event_id"`
	} `json:"m.relates_to"`
	NewContent *struct {
		Body *string `json:"body"`
	} `json:"m.new_content"`
}

// ChatMessage maps one timeline event of room to the chat message Read
// returns, and reports false for everything else: state events, other
// event types, other rooms, redacted or bodiless messages, message types
// other than m.text, m.notice and m.emote. An edit (m.replace) is returned
// as Edited, with the ID of the event it edits and the new body.
//
// ID is MessageID(event id); Account is the sender's user id, which the
// homeserver asserts; UserName is the same string; UserID is
// MessageID-like hash of it, for display only (trust compares Account).
func ChatMessage(ev *event.Event, room id.RoomID) (messages.ChatMessage, bool) {
	if ev == nil || ev.Type != event.EventMessage || ev.StateKey != nil || ev.RoomID != "" && ev.RoomID != room ||
		ev.ID == "" || ev.Sender == "" {
		return messages.ChatMessage{}, false
	}
	var c content
	if err := json.Unmarshal(ev.Content.VeryRaw, &c); err != nil || c.Body == nil {
		return messages.ChatMessage{}, false
	}
	switch c.MsgType {
	case string(event.MsgText), string(event.MsgNotice), string(event.MsgEmote):
	default:
		return messages.ChatMessage{}, false
	}
	m := messages.ChatMessage{
		ID:       MessageID(ev.ID),
		UserID:   accountID(ev.Sender),
		UserName: ev.Sender.String(),
		Account:  ev.Sender.String(),
		Text:     *c.Body,
	}
	if ev.Timestamp > 0 {
		m.Time = time.UnixMilli(ev.Timestamp).UTC()
	}
	if c.RelatesTo != nil && c.RelatesTo.RelType == string(event.RelReplace) && c.RelatesTo.EventID != "" {
		if c.NewContent == nil || c.NewContent.Body == nil {
			return messages.ChatMessage{}, false
		}
		m.ID, m.Text, m.Edited = MessageID(id.EventID(c.RelatesTo.EventID)), *c.NewContent.Body, true
	}
	return m, true
}

// MessageID is the 63-bit ChatMessage.ID of an event id: the first bytes
// of its SHA-256, never zero. It is stable across connections, so the
// same event read twice has the same ID. Finding another event id with
// the same ID takes about 2^31.5 tries for any pair (birthday bound), or
// 2^63 to match a given one; IDs are for deduplication, never trust.
func MessageID(ev id.EventID) int64 { return hash63(string(ev)) }

func accountID(u id.UserID) int64 { return hash63("user:" + string(u)) }

func hash63(s string) int64 {
	sum := sha256.Sum256([]byte(s))
	v := int64(binary.BigEndian.Uint64(sum[:8]) >> 1)
	if v == 0 {
		v = 1
	}
	return v
}

// TxnID is the transaction id Post sends text with. Frames and fragments
// carry their envelope (node, incarnation, seq), so the exact text names
// the post: its transaction id is a hash of the text alone, and the
// gateway's second attempt at a post whose answer was lost is the same
// request to the server, which returns the first event instead of making
// a second. A payload re-stamped or re-cut after a failure is a different
// text, a different transaction, and a second event that receivers drop
// by its envelope. Plain text (Node.Post) has no envelope and may be
// posted twice on purpose, so its transaction id also counts the plain
// posts the Dialer completed before (n): a retry reuses it, the next post
// of the same words does not.
func TxnID(text string, n int64) string {
	sum := sha256.Sum256([]byte(text))
	txn := "ss1." + base64.RawURLEncoding.EncodeToString(sum[:18])
	if messages.Classify(text) == messages.KindChat {
		txn += "." + strconv.FormatInt(n, 10)
	}
	return txn
}

// syncFilter is the inline filter Read's /sync sends: the room's timeline
// only (limit events), no presence, account data, ephemeral events or
// member lists.
func syncFilter(room id.RoomID, limit int) string {
	none := map[string]any{"not_types": []string{"*"}}
	f := map[string]any{
		"presence":     none,
		"account_data": none,
		"room": map[string]any{
			"rooms":        []id.RoomID{room},
			"timeline":     map[string]any{"limit": limit},
			"state":        map[string]any{"lazy_load_members": true, "not_types": []string{"*"}},
			"ephemeral":    none,
			"account_data": none,
		},
	}
	b, _ := json.Marshal(f) // maps of strings and ints always marshal
	return string(b)
}

// seenSet remembers the last n event ids returned, first in first out.
type seenSet struct {
	ids  map[id.EventID]struct{}
	ring []id.EventID
	next int
}

func newSeenSet(n int) *seenSet {
	return &seenSet{ids: make(map[id.EventID]struct{}, n), ring: make([]id.EventID, n)}
}

func (s *seenSet) has(e id.EventID) bool { _, ok := s.ids[e]; return ok }

func (s *seenSet) add(e id.EventID) {
	if s.has(e) {
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.ids, old)
	}
	s.ring[s.next] = e
	s.ids[e] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
}
