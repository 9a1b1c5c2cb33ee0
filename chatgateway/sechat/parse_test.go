package sechat

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway"
)

func TestParseChatPage(t *testing.T) {
	page := `<html><body>
<div id="topbar"><div class="topbar-menu-links">
  <a href="/users/120914/smokedetector" title="Smoke Detector">Smoke &amp; Detector</a>
  <a href="/users/1/other">other</a>
</div></div>
<input id="fkey" name="fkey" type="hidden" value="0123456789abcdef0123456789abcdef"/>
</body></html>`
	info := parseChatPage(page)
	assert.Equal(t, "0123456789abcdef0123456789abcdef", info.fkey)
	assert.Equal(t, chatgateway.Identity{UserID: 120914, UserName: "Smoke & Detector"}, info.self)

	// Attributes in any order and quoting; the name falls back to title.
	info = parseChatPage(`<input value='abc' type=hidden name=fkey><div class="topbar-menu-links"><a title="Zed" href='/users/7'></a></div>`)
	assert.Equal(t, "abc", info.fkey)
	assert.Equal(t, chatgateway.Identity{UserID: 7, UserName: "Zed"}, info.self)

	// The anonymous view: no fkey and no user link.
	info = parseChatPage(`<div class="topbar-menu-links"><a href="/users/login">log in</a></div>`)
	assert.Empty(t, info.fkey)
	assert.Zero(t, info.self.UserID)

	// A user link outside the topbar is not the account.
	info = parseChatPage(`<a href="/users/5/x">x</a><div class="topbar-menu-links"></div>`)
	assert.Zero(t, info.self.UserID)
}

func TestFindFkey(t *testing.T) {
	assert.Equal(t, "f00", findFkey(`<form><input type="text" name="email"><input type="hidden" name="fkey" value="f00"></form>`))
	assert.Empty(t, findFkey(`<p>read-only</p>`))
}

func TestRoomEvents(t *testing.T) {
	frame := `{"r11540":{"e":[
		{"event_type":1,"time_stamp":1540642697,"content":"a","id":10,"user_id":4,"user_name":"F","room_id":11540,"message_id":100},
		{"event_type":18,"time_stamp":1540642697,"content":"a","id":11,"user_id":4,"user_name":"F","room_id":11540,"message_id":100,"parent_id":9},
		{"event_type":1,"time_stamp":1540642697,"content":"a","id":10,"user_id":4,"user_name":"F","room_id":11540,"message_id":100},
		{"event_type":3,"time_stamp":1540642697,"id":12,"user_id":4,"user_name":"F","room_id":11540},
		{"event_type":2,"time_stamp":1540642698,"content":"b","id":13,"user_id":4,"user_name":"F","room_id":11540,"message_id":100,"message_edits":1},
		"junk",
		{"event_type":1,"time_stamp":1540642699,"content":"c","id":14,"user_id":5,"user_name":"G","room_id":11540,"message_id":101}
	],"t":14,"d":3},"r999":{"e":[{"event_type":1,"id":15,"room_id":999,"message_id":102}]}}`
	evs, cur, err := roomEvents([]byte(frame), 11540)
	require.NoError(t, err)
	assert.Equal(t, cursor{T: 14, D: ptr(int64(3))}, cur)
	require.Len(t, evs, 3)
	assert.Equal(t, event{EventType: 1, TimeStamp: 1540642697, ID: 10, UserID: 4, UserName: "F", RoomID: 11540, MessageID: 100, Content: ptr("a")}, evs[0])
	assert.Equal(t, int64(13), evs[1].ID)
	assert.Equal(t, eventMessageEdited, evs[1].EventType)
	assert.Equal(t, int64(101), evs[2].MessageID)

	evs, cur, err = roomEvents([]byte(`{"r11540":{"t":15,"d":3}}`), 11540)
	require.NoError(t, err)
	assert.Empty(t, evs)
	assert.Equal(t, cursor{T: 15, D: ptr(int64(3))}, cur)
	evs, cur, err = roomEvents([]byte(`{"r999":{}}`), 11540)
	require.NoError(t, err)
	assert.Empty(t, evs)
	assert.Zero(t, cur)
	// Another room's frame still moves the cursor.
	evs, cur, err = roomEvents([]byte(`{"r999":{"e":[],"t":20,"d":5}}`), 11540)
	require.NoError(t, err)
	assert.Empty(t, evs)
	assert.Equal(t, cursor{T: 20, D: ptr(int64(5))}, cur)
	// "d" 0 still says where the previous frame left the cursor; no "d"
	// says nothing.
	_, cur, err = roomEvents([]byte(`{"r11540":{"t":20,"d":0}}`), 11540)
	require.NoError(t, err)
	assert.True(t, cur.follows(20))
	assert.False(t, cur.follows(17), "frames between 17 and 20 were lost")
	_, cur, err = roomEvents([]byte(`{"r11540":{"t":20}}`), 11540)
	require.NoError(t, err)
	assert.True(t, cur.follows(17))
	_, _, err = roomEvents([]byte(`not json`), 11540)
	assert.Error(t, err)
}

func TestThrottleWait(t *testing.T) {
	for body, want := range map[string]time.Duration{
		"You can perform this action again in 3 seconds":                                 3 * time.Second,
		"You can perform this action again in 1 second":                                  time.Second,
		"You can perform this action again in 0 seconds":                                 MinRetryAfter,
		"You can perform this action again in 0.2 seconds":                               MinRetryAfter,
		"You can perform this action again in 2.5 seconds":                               2500 * time.Millisecond,
		"You can perform this action again in 119 seconds":                               119 * time.Second,
		"You can perform this action again in 99999999 seconds":                          MaxRetryAfter,
		"You can perform this action again in 1" + strings.Repeat("0", 400) + " seconds": MaxRetryAfter,
		"You can perform this action again in -3 seconds":                                DefaultRetryAfter,
		"slow down": DefaultRetryAfter,
		"":          DefaultRetryAfter,
	} {
		assert.Equal(t, want, throttleWait(body), body)
	}
}

func TestNotFoundError(t *testing.T) {
	err := notFoundError("The room does not exist, or you do not have permission")
	assert.ErrorIs(t, err, ErrNoPermission)
	assert.NotErrorIs(t, err, chatgateway.ErrPermanent)
	err = notFoundError("Your account is blocked, ending in 5 hours")
	assert.ErrorIs(t, err, ErrAccountBlocked)
	assert.ErrorIs(t, err, chatgateway.ErrPermanent)
	assert.Contains(t, err.Error(), "ending in 5 hours")
	err = notFoundError("The room is in timeout, ending in 58 seconds")
	assert.ErrorIs(t, err, ErrRoomTimeout)
	assert.False(t, errors.Is(err, ErrNoPermission))
}

func TestNewClientConfig(t *testing.T) {
	_, err := NewClient(Config{})
	assert.Error(t, err, "no credentials and no jar")
	_, err = NewClient(Config{Host: "chat.example.org", Email: "a", Password: "b"})
	assert.NoError(t, err, "any chat.<site> host")
	_, err = NewClient(Config{Host: "example.org", Email: "a", Password: "b"})
	assert.Error(t, err)
	_, err = NewClient(Config{BaseURL: "ftp://x", Email: "a", Password: "b"})
	assert.Error(t, err)

	for host, login := range map[string]string{
		"":                            "https://meta.stackexchange.com",
		"chat.stackexchange.com":      "https://meta.stackexchange.com",
		"chat.stackoverflow.com":      "https://stackoverflow.com",
		"chat.meta.stackexchange.com": "https://meta.stackexchange.com",
	} {
		c, err := NewClient(Config{Host: host, Email: "a", Password: "b"})
		require.NoError(t, err)
		assert.Equal(t, login, c.loginRoot, host)
		assert.Equal(t, c.chatRoot, c.origin)
		assert.Equal(t, strings.TrimPrefix(c.chatRoot, "https://")+"/rooms/11540", c.roomName(11540))
	}

	c, err := NewClient(Config{BaseURL: "http://127.0.0.1:4711/", Email: "a", Password: "b"})
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:4711", c.chatRoot)
	assert.Equal(t, "http://127.0.0.1:4711", c.loginRoot)
	assert.Equal(t, "http://127.0.0.1:4711", c.origin)
	assert.Equal(t, DefaultLivenessTimeout, c.cfg.LivenessTimeout)
	assert.Equal(t, DefaultRefreshInterval, c.cfg.RefreshInterval)
}

func ptr[T any](v T) *T { return &v }

func TestRedact(t *testing.T) {
	for raw, want := range map[string][2]string{
		"wss://chat.sockets.stackexchange.com/events/11540/0f5d?l=123": {"wss://chat.sockets.stackexchange.com/…", "wss://chat.sockets.stackexchange.com/events/11540/0f5d"},
		"https://user:pa/ss@host:1/x#frag":                             {"https://host:1/…", "https://host:1/x"},
		"http://host":                                                  {"http://host", "http://host"},
		"http://host/?q=1":                                             {"http://host", "http://host"},
		"no url at all":                                                {"[URL redacted]", "[URL redacted]"},
	} {
		assert.Equal(t, want[0], redactURL(raw, false), raw)
		assert.Equal(t, want[1], redactURL(raw, true), raw)
	}

	del := string(rune(0x7f))
	_, perr := url.Parse("ws://h/events/1/tok" + del + "?l=1")
	err := redactErr(fmt.Errorf("x: %w", perr), false)
	assert.NotContains(t, err.Error(), "tok")
	assert.ErrorIs(t, err, perr, "still unwraps")
	err = redactErr(&url.Error{Op: "Get", URL: "http://h/p?secret=1", Err: context.Canceled}, true)
	assert.Equal(t, `Get "http://h/p": context canceled`, err.Error())
	assert.ErrorIs(t, err, context.Canceled)
	plain := errors.New("nothing to hide")
	assert.Equal(t, plain, redactErr(plain, false))
	assert.NoError(t, redactErr(nil, false))
}

func TestCursorPlausible(t *testing.T) {
	c := func(t int64) cursor { return cursor{T: t} }
	assert.True(t, c(100).plausible(100, 0), "a keep-alive at the same cursor")
	assert.True(t, c(100+MaxCursorJump).plausible(100, 0))
	assert.False(t, c(101+MaxCursorJump).plausible(100, 0), "far ahead")
	assert.True(t, c(5000+MaxCursorJump).plausible(100, 5000), "a new socket's replay up to the events cursor and a bit")
	assert.False(t, c(99).plausible(100, 0), "backwards")
	assert.False(t, c(1<<62).plausible(0, -1<<62), "no overflow: a negative anchor counts as 0")
	assert.False(t, c(1<<62).plausible(0, 0))
}

// The frames a room's socket brings, as sechattest renders them (a frame,
// a person's multi-line and non-ASCII message, a reply, an edit, a
// keep-alive with another room's key), are read by scanRoomEvents, not
// left to encoding/json, and read as encoding/json reads them. Odd ones
// are left to encoding/json (FuzzRoomEvents compares the two on any).
func TestScanRoomEventsTakesUsualFrames(t *testing.T) {
	for _, frame := range []string{
		`{"r11540":{"e":[{"event_type":1,"time_stamp":1764662400,"content":"<div class='full'>. <br> \u0002123456gqVwaW5n\u0003</div>",` +
			`"id":12345,"user_id":1001,"user_name":"SmokeDetector","room_id":11540,"room_name":"Charcoal HQ","message_id":4567}],"t":12345,"d":1}}`,
		`{"r11540":{"e":[{"event_type":1,"time_stamp":1764662400,"content":"<div class='full'>first line <br> caf\u00e9 &amp; ` +
			`\ud83d\ude00</div>","id":7,"user_id":1002,"user_name":"Mak\u00ffen","room_id":11540,"room_name":"x","message_id":8,` +
			`"parent_id":3,"show_parent":true}],"t":7,"d":2}}`,
		`{"r11540":{"e":[{"event_type":2,"time_stamp":1,"content":"b","id":9,"user_id":4,"user_name":"F","room_id":11540,` +
			`"room_name":"x","message_id":100,"message_edits":1}],"t":9,"d":0}}`,
		`{"r11540":{"t":20,"d":0},"r12538":{}}`,
		`{"r999":{"e":[],"t":20,"d":5}}`,
		" {\"r11540\" : {\"e\" : [ ] , \"t\" : 3 }\n}\t",
	} {
		evs, cur, ok := scanRoomEvents([]byte(frame), 11540)
		require.True(t, ok, frame)
		devs, dcur, err := decodeRoomEvents([]byte(frame), 11540)
		require.NoError(t, err)
		assert.Equal(t, devs, evs, frame)
		assert.Equal(t, dcur, cur, frame)
	}
	for _, frame := range []string{
		`{"r11540":{"e":[{"Event_Type":1,"message_id":1}]}}`,               // encoding/json folds case
		`{"r11540":{"e":[{"event_type":1,"message_id":1,"id":1,"id":2}]}}`, // a repeated key
		`{"r11540":{"t":1.5}}`, `{"r11540":{"t":01}}`, `{"r11540":{"e":null}}`, `{"r11540":null}`,
		`{"r11540":{"e":[{"user_name":null}]}}`, `{"r11540":{"e":[{"content":5}]}}`, `{"r\u0031":{}}`,
		`{"r11540":{"t":1}} x`, `{"r11540":{"x":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}}`, `[]`, `not json`,
	} {
		_, _, ok := scanRoomEvents([]byte(frame), 11540)
		assert.False(t, ok, frame)
	}
}
