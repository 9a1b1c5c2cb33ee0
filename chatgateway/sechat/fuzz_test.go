package sechat

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socketscience/socketscience/chatgateway"
)

// The fuzz targets feed what a broken or hostile server controls (socket
// frames, HTTP answers, pages, URLs) to the pure functions that read them,
// and check the promises the rest of the adapter relies on. Seed corpora
// are in testdata/fuzz.

func FuzzRoomEvents(f *testing.F) {
	for _, s := range []string{
		`{"r11540":{"e":[{"event_type":1,"time_stamp":1717243200,"content":"hi","id":1001,"user_id":8,"user_name":"human","room_id":11540,"message_id":1}],"t":1001,"d":1}}`,
		`{"r11540":{"t":1002,"d":0}}`,
		`{"r1":{"t":5,"d":5},"r11540":{"e":[{"event_type":2,"id":9,"message_id":3,"room_id":11540},{"event_type":1,"id":9,"message_id":3}],"t":9,"d":4}}`,
		`{"r11540":{"e":[{"event_type":10,"id":7,"message_id":2},{"event_type":1,"message_id":0}],"t":-1}}`,
		`{"r11540":{"t":1000000000000,"d":999999999000}}`,
		`{"r11540":{"e":"x","t":1}}`, `{"r11540":[]}`, `[]`, `null`, `not json`, `{}`,
		`{"r11540":{"e":[{"event_type":1,"content":"<div class='full'>. <br> \u0002123gaRwaW5n\u0003</div>","id":5,"user_id":7,` +
			`"user_name":"Sm\u00f6key \ud83d\ude00","room_id":11540,"room_name":"x","message_id":4,"parent_id":2,"show_parent":true}],"t":5,"d":1},"r12539":{}}`,
		`{"r11540":{"e":[{"Event_Type":1,"message_id":1}],"t":2}}`, `{"r11540":{"e":[{"event_type":1,"message_id":1,"message_id":2}]}}`,
		`{"r11540":{"t":1},"r11540":{"t":2}}`, `{"r11540":{"e":[{"event_type":1.0,"message_id":1}]}}`, `{"r11540":{"e":null,"d":null}}`,
		`{"r11540":{"e":[{"event_type":1,"message_id":1,"content":null,"user_name":"\ud800"}]}}`, "{\"r11540\":{\"e\":[{\"content\":\"\xff\"}]}}",
	} {
		f.Add([]byte(s), int64(11540), int64(1000), int64(1000))
	}
	f.Fuzz(func(t *testing.T, frame []byte, room, last, anchor int64) {
		scanAgrees(t, frame, room)
		evs, cur, err := roomEvents(frame, room)
		// The one-pass decode agrees with the piece-by-piece one on the
		// events (the cursor of a frame whose rooms disagree is any one
		// of theirs, in map order, either way).
		pevs, _, perr := roomEventsByPiece(frame, room)
		if (err == nil) != (perr == nil) || len(evs) != len(pevs) {
			t.Fatalf("one pass: %d events, %v; by piece: %d events, %v", len(evs), err, len(pevs), perr)
		}
		for i := range evs {
			if !reflect.DeepEqual(evs[i], pevs[i]) {
				t.Fatalf("event %d: one pass %+v, by piece %+v", i, evs[i], pevs[i])
			}
		}
		if err != nil && len(evs) > 0 {
			t.Fatalf("events with an error: %v", err)
		}
		seen := map[int64]bool{}
		for _, e := range evs {
			if e.EventType != eventMessagePosted && e.EventType != eventMessageEdited {
				t.Fatalf("event type %d", e.EventType)
			}
			if e.MessageID == 0 || (e.RoomID != 0 && e.RoomID != room) {
				t.Fatalf("event %+v for room %d", e, room)
			}
			if e.ID != 0 && seen[e.ID] {
				t.Fatalf("event id %d twice", e.ID)
			}
			seen[e.ID] = true
		}
		if cur.T > 0 && cur.plausible(last, anchor) && (cur.T < last || cur.T-max(last, anchor, 0) > MaxCursorJump) {
			t.Fatalf("cursor %d plausible after %d (anchor %d)", cur.T, last, anchor)
		}
		_ = cur.follows(last)
	})
}

// scanAgrees checks that what scanRoomEvents takes, it reads as
// encoding/json does: the same events, and a cursor from a room with one
// whenever there is one, the room's own when it has one.
func scanAgrees(t *testing.T, frame []byte, room int64) {
	sevs, scur, ok := scanRoomEvents(frame, room)
	if !ok {
		return
	}
	devs, dcur, err := decodeRoomEvents(frame, room)
	if err != nil {
		t.Fatalf("scanned a frame encoding/json refuses: %v", err)
	}
	if !reflect.DeepEqual(sevs, devs) {
		t.Fatalf("scanned events %+v, decoded %+v", sevs, devs)
	}
	if (scur.T > 0) != (dcur.T > 0) {
		t.Fatalf("scanned cursor %+v, decoded %+v", scur, dcur)
	}
	var rooms map[string]json.RawMessage
	var own cursor
	if json.Unmarshal(frame, &rooms) == nil && json.Unmarshal(rooms["r"+strconv.FormatInt(room, 10)], &own) == nil && own.T > 0 &&
		!reflect.DeepEqual(scur, dcur) {
		t.Fatalf("scanned cursor %+v, decoded %+v", scur, dcur)
	}
}

func FuzzThrottleWait(f *testing.F) {
	for _, s := range []string{
		"You can perform this action again in 0 seconds", "You can perform this action again in 1 second",
		"You can perform this action again in 3 seconds", "again in 99999999999999999999999 seconds",
		"again in 1.5 seconds", "again in -3 seconds", "again in 1e9 seconds", "slow down", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, d := range []time.Duration{throttleWait(body), retryAfterHeader(body)} {
			if d < MinRetryAfter || d > MaxRetryAfter {
				t.Fatalf("wait %s for %q", d, body)
			}
		}
	})
}

func FuzzPostAnswer(f *testing.F) {
	for _, c := range []struct {
		status int
		body   string
	}{
		{200, `{"id":42,"time":1717243200}`}, {200, `{"time":1}`}, {200, `{"id":null,"time":null}`},
		{200, `{}`}, {200, `{"id":"x"}`}, {200, `[]`}, {409, "You can perform this action again in 0 seconds"},
		{404, "The room does not exist, or you do not have permission"}, {404, "Your account is blocked"},
		{400, "no"}, {413, ""}, {429, ""}, {500, "oops"}, {503, ""}, {302, ""}, {0, ""}, {999, "x"},
	} {
		f.Add(c.status, []byte(c.body), "2")
	}
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		resp := &response{status: status, header: http.Header{"Retry-After": {retryAfter}}, body: body}
		id, err := postAnswer(resp)
		if err == nil {
			if status != http.StatusOK {
				t.Fatalf("HTTP %d taken for a post", status)
			}
			return
		}
		if id != 0 {
			t.Fatalf("id %d with error %v", id, err)
		}
		var ra *chatgateway.RetryAfterError
		if errors.As(err, &ra) && (ra.After < MinRetryAfter || ra.After > MaxRetryAfter) {
			t.Fatalf("retry after %s", ra.After)
		}
		if errors.Is(err, chatgateway.ErrRejected) && errors.As(err, &ra) {
			t.Fatalf("both rejected and retry after: %v", err)
		}
		if status >= 500 && (errors.Is(err, chatgateway.ErrRejected) || errors.Is(err, chatgateway.ErrPermanent)) {
			t.Fatalf("HTTP %d given up on: %v", status, err)
		}
	})
}

func FuzzParseChatPage(f *testing.F) {
	for _, s := range []string{
		`<div class="topbar-menu-links"><a href="/users/120914/smokedetector" title="Smoke Detector">Smoke &amp; Detector</a></div><input id="fkey" name="fkey" type="hidden" value="0123456789abcdef">`,
		`<div class="topbar-menu-links"><a href="/users/login">log in</a></div>`,
		`<input name='fkey' value=abc><div class=topbar-menu-links><a href="/users/-5/x"></a><a href=/users/7>`,
		`<a href="/users/99999999999999999999999/x">`, `topbar-menu-links<a href="/users/1/x" title=" ">  </a>`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, page string) {
		info := parseChatPage(page)
		if info.self.UserID == 0 && info.self.UserName != "" {
			t.Fatalf("a name without an id: %+v", info.self)
		}
		_ = findFkey(page)
	})
}

func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		"wss://chat.sockets.stackexchange.com/events/11540/0f5d?l=123", "ws://user:pass@h/events/1/tok\x7f?l=1",
		"https://u:p/w@host/x#frag", "http://host", "a?b://host/x?y", "no url", "://x", "ws://h@@/?@#",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, keepPath := range []bool{false, true} {
			out := redactURL(raw, keepPath)
			if out == "[URL redacted]" {
				continue
			}
			_, rest, _ := strings.Cut(out, "://")
			if strings.ContainsAny(rest, "?#@") {
				t.Fatalf("redactURL(%q, %v) = %q keeps a query, fragment or userinfo", raw, keepPath, out)
			}
			if !keepPath && strings.Count(rest, "/") > 1 {
				t.Fatalf("redactURL(%q, false) = %q keeps the path", raw, out)
			}
			if i := strings.Index(raw, "?"); i >= 0 && len(raw) > i+1 && strings.Contains(out, raw[i:]) {
				t.Fatalf("redactURL(%q) = %q keeps the query", raw, out)
			}
		}
		err := redactErr(&url.Error{Op: "Get", URL: raw, Err: errors.New("boom")}, false)
		if q := strings.Index(raw, "?"); q >= 0 && q+1 < len(raw) && strings.Contains(err.Error(), raw[q:]) && strings.Contains(raw, "://") {
			t.Fatalf("error %q keeps the query of %q", err, raw)
		}
	})
}
