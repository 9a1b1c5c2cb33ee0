package sechattest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
)

// compatRow is one thing a real client reads from the server: a CSS
// selector on an HTML page or a field of a JSON answer, and what it must
// hold. from names the ChatExchange (Manishearth/ChatExchange, HEAD
// 83060a6) function that reads it, so a failing row says which client
// code would break. ChatExchange is what SmokeDetector runs on.
type compatRow struct {
	from string
	page string // a key of compatFixture.pages
	// within and nth scope the row to the nth (from 0) match of within,
	// as ChatExchange selects inside a monologue or message.
	within string
	nth    int
	// sel is a CSS selector (HTML pages; "" is the scope itself) or a
	// dotted JSON path (JSON answers; "*" is any array element, "" the
	// whole value).
	sel   string
	attr  string // the attribute to check; "" checks the text
	want  string // a regexp the first match's text or attribute must match; "" only needs a match
	count int    // if > 0, the exact number of matches
}

// compatRows: every page and endpoint ChatExchange (and so SmokeDetector)
// scrapes or calls, with what it reads. {room}, {bot}, {alice}, {m1},
// {m2} and {frame} stand for the fixture's values.
var compatRows = []compatRow{
	// Login.
	{from: "browser.py Browser._se_openid_login_with_fkey", page: "login", sel: "input[name=fkey]", attr: "value", want: `^[0-9a-f]{32}$`},
	{from: "browser.py Browser.login_site_with_cookie", page: "login-cookie", sel: ".my-profile"},
	{from: "browser.py Browser._load_fkey", page: "favorite", sel: "input[name=fkey]", attr: "value", want: `^[0-9a-f]{32}$`},
	{from: "browser.py Browser._load_user", page: "favorite", sel: ".topbar-menu-links a", attr: "href", want: `^/users/{bot}/smoke-detector$`},
	{from: "browser.py Browser._load_user", page: "favorite", sel: ".topbar-menu-links a", want: `^Smoke Detector$`},
	// Joining, watching, posting.
	{from: "browser.py Browser.join_room", page: "events-join", sel: "time", want: `^\d+$`},
	{from: "browser.py RoomSocketWatcher.start", page: "ws-auth", sel: "url", want: `^ws://127\.0\.0\.1:\d+/events/{room}/[0-9a-f]+$`},
	{from: "client.py Client._do_action_despite_throttling", page: "new-message", sel: "id", want: `^{m1}$`},
	{from: "browser.py RoomPollingWatcher._runner", page: "poll", sel: "r{room}.t", want: `^\d+$`},
	{from: "rooms.py Room._events_from_activity", page: "poll", sel: "r{room}.e.*.event_type", want: `^1$`},
	{from: "events.py Event.__init__", page: "poll", sel: "r{room}.e.*.id", want: `^\d+$`},
	{from: "events.py Event.__init__", page: "poll", sel: "r{room}.e.*.room_id", want: `^{room}$`},
	{from: "events.py Event.__init__", page: "poll", sel: "r{room}.e.*.room_name", want: `^Sandbox$`},
	{from: "events.py Event.__init__", page: "poll", sel: "r{room}.e.*.time_stamp", want: `^\d+$`},
	{from: "events.py MessageEvent._init_from_data", page: "poll", sel: "r{room}.e.*.user_id", want: `^{bot}$`},
	{from: "events.py MessageEvent._init_from_data", page: "poll", sel: "r{room}.e.*.user_name", want: `^Smoke Detector$`},
	{from: "events.py MessageEvent._init_from_data", page: "poll", sel: "r{room}.e.*.content"},
	{from: "events.py MessageEvent._init_from_data", page: "poll", sel: "r{room}.e.*.message_id", want: `^{m1}$`},
	{from: "events.py MessageEvent._init_from_data", page: "poll", sel: "r{room}.e.*.message_edits", want: `^1$`},
	{from: "events.py MessageEvent._init_from_data", page: "poll", sel: "r{room}.e.*.parent_id", want: `^{m1}$`},
	{from: "events.py MessageEvent._init_from_data", page: "poll", sel: "r{room}.e.*.show_parent", want: `^true$`},
	{from: "events.py MessageEvent._init_from_data", page: "poll", sel: "r{room}.e.*.message_stars", want: `^2$`},
	{from: "events.py MessageEvent._init_from_data", page: "poll", sel: "r{room}.e.*.message_owner_stars", want: `^1$`},
	{from: "events.py MessageEvent._init_from_data", page: "poll", sel: "r{room}.e.*.target_user_id", want: `^{bot}$`},
	{from: "browser.py Browser.toggle_starring", page: "star", sel: "", want: `^ok$`},
	{from: "browser.py Browser.leave_room (POST //chats/leave/<room>)", page: "leave", sel: "", want: `^ok$`},
	// The history page: Message.content_source, which SmokeDetector's
	// on_msg reads for every own-account message in a direct room.
	{from: "browser.py Browser.get_history", page: "history", sel: ".monologue", count: 3},
	{from: "browser.py Browser.get_history", page: "history", within: ".monologue", sel: ".message a", attr: "name", want: `^{m1}$`},
	{from: "browser.py Browser.get_history", page: "history", within: ".monologue", sel: ".message a", attr: "href", want: `^/transcript/{room}\?m={m1}#{m1}$`},
	{from: "browser.py Browser.get_history", page: "history", within: ".monologue", sel: ".content", want: `SocketScience|\x02`},
	{from: "browser.py Browser.get_history", page: "history", sel: ".monologue .message-source", want: `^\s*{frame}\s*$`},
	{from: "browser.py Browser.get_history", page: "history", within: ".monologue", sel: ".username a", attr: "href", want: `^/users/{bot}/smoke-detector$`},
	{from: "browser.py Browser.get_history", page: "history", within: ".monologue", sel: ".username a", want: `^Smoke Detector$`},
	{from: "browser.py Browser._get_edits", page: "history", within: ".monologue", nth: 1, sel: "b", want: `^edited:$`},
	{from: "browser.py Browser._get_edits", page: "history", within: ".monologue", nth: 1, sel: ".username a", attr: "href", want: `^/users/{bot}/`},
	{from: "browser.py Browser._get_edits", page: "history", within: ".monologue", nth: 2, sel: "b", want: `^said:$`},
	{from: "browser.py Browser._get_star_data", page: "history", within: ".monologue", sel: ".stars", count: 1},
	{from: "browser.py Browser._get_star_data", page: "history", within: ".monologue", sel: ".times", want: `^2$`},
	{from: "browser.py Browser._get_star_data", page: "history", within: ".monologue", sel: ".stars.owner-star", count: 1},
	{from: "browser.py Browser._get_pin_data", page: "history", within: "#content p", sel: ".stars.owner-star", count: 1},
	{from: "browser.py Browser._get_pin_data", page: "history", within: "#content p", sel: "a", attr: "href", want: `^/users/{alice}/alice$`},
	// The transcript: Message.content, owner, parent, room, stars.
	{from: "browser.py Browser.get_transcript_with_message", page: "transcript", sel: ".room-name a", attr: "href", want: `^/rooms/{room}/sandbox$`},
	{from: "browser.py Browser.get_transcript_with_message", page: "transcript", sel: ".room-name a", want: `^Sandbox$`},
	{from: "browser.py Browser.get_transcript_with_message", page: "transcript", sel: ".monologue", count: 2},
	{from: "browser.py Browser.get_transcript_with_message", page: "transcript", within: ".monologue", sel: ".signature .username a", attr: "href", want: `^/users/{bot}/smoke-detector$`, count: 1},
	{from: "browser.py Browser.get_transcript_with_message", page: "transcript", within: ".monologue", sel: ".message", attr: "id", want: `^message-{m1}$`},
	{from: "browser.py Browser.get_transcript_with_message", page: "transcript", within: "#message-{m1}", sel: ".content"},
	{from: "browser.py Browser.get_transcript_with_message", page: "transcript", within: "#message-{m1}", sel: ".edits"},
	{from: "browser.py Browser.get_transcript_with_message", page: "transcript", within: "#message-{m2}", sel: ".reply-info", attr: "href", want: `#{m1}$`},
	{from: "browser.py Browser._get_star_data", page: "transcript", within: "#message-{m1}", sel: ".stars", count: 1},
	{from: "browser.py Browser._get_star_data", page: "transcript", within: "#message-{m2}", sel: ".stars.user-star", count: 1},
	// The profile: User.name, is_moderator (SmokeDetector's is_privileged), counts.
	{from: "browser.py Browser.get_profile", page: "profile", sel: "h1", want: `^Smoke Detector$`},
	{from: "browser.py Browser.get_profile", page: "profile", sel: ".user-status"},
	{from: "browser.py Browser.get_profile", page: "profile", sel: ".user-message-count-xxl", want: `^1$`},
	{from: "browser.py Browser.get_profile", page: "profile", sel: ".user-room-count-xxl", want: `^1$`},
	{from: "browser.py Browser.get_profile", page: "profile", sel: ".user-valuecell", count: 4},
	{from: "browser.py Browser.get_profile (_utils.parse_last_seen)", page: "profile", within: ".user-valuecell", nth: 1, want: `^(just now|\d+[smhdy] ago|n/a)$`},
	{from: "browser.py Browser.get_profile (_utils.parse_last_seen)", page: "profile", within: ".user-valuecell", nth: 2, want: `^(just now|\d+[smhdy] ago|n/a)$`},
	{from: "browser.py Browser.get_profile", page: "moderator-profile", sel: ".user-status", want: `♦`},
	// The room: info, who is present, who is pingable.
	{from: "browser.py Browser.get_room_info", page: "room-info", sel: "h1", want: `^Sandbox$`},
	{from: "browser.py Browser.get_room_info", page: "room-info", sel: ".roomcard-xxl p"},
	{from: "browser.py Browser.get_room_info", page: "room-info", sel: ".room-message-count-xxl", want: `^2$`},
	{from: "browser.py Browser.get_room_info", page: "room-info", sel: ".room-user-count-xxl", want: `^\d+$`},
	{from: "browser.py Browser.get_room_info", page: "room-info", within: "#room-ownercards .usercard", sel: "a", attr: "href", want: `^/users/{alice}/alice$`},
	{from: "browser.py Browser.get_current_users_in_room (GET //rooms/<room>/)", page: "room", sel: "div.js-present", attr: "data-users", want: `"id":{bot},"name":"Smoke Detector"`},
	{from: "browser.py Browser.get_pingable_users_in_room", page: "pingable", sel: "*.0", want: `^{alice}$`},
	{from: "browser.py Browser.get_pingable_users_in_room", page: "pingable", sel: "*.1", want: `^Smoke Detector$`},
	{from: "browser.py Browser.get_pingable_users_in_room", page: "pingable", sel: "*.3", want: `^\d+$`},
}

// compatFixture is a server after a short, complete conversation, and the
// answers a client got on the way.
type compatFixture struct {
	pages map[string]string
	vars  map[string]string // {room} and the like, as the rows name them
}

func newCompatFixture(t *testing.T) compatFixture {
	t.Helper()
	e := newEnv(t, sechattest.WithKeepAlive(0))
	alice := e.s.AddUser("Alice", "alice@example.com", "pw")
	carol := e.s.AddUser("Carol", "carol@example.com", "pw")
	mod := e.s.AddUser("Mod", "mod@example.com", "pw")
	require.NoError(t, e.s.AddRoomOwner(e.room.ID, alice.ID))
	require.NoError(t, e.s.SetModerator(mod.ID, true))
	f := compatFixture{pages: map[string]string{}}
	get := func(c *client, name, path string) {
		t.Helper()
		resp, body := c.get(path)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: GET %s: %s", name, path, body)
		f.pages[name] = body
	}
	post := func(c *client, name, path string, form url.Values) {
		t.Helper()
		form.Set("fkey", c.fkey)
		resp, body := c.post(path, form)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: POST %s: %s", name, path, body)
		f.pages[name] = body
	}
	room := strconv.FormatInt(e.room.ID, 10)

	bot := newClient(t, e.s)
	get(bot, "login", "/users/login")
	bot.login(e.bot.Email, e.bot.Password)
	get(bot, "login-cookie", "/users/login")
	get(bot, "favorite", "/chats/join/favorite")
	post(bot, "events-join", "/chats/"+room+"/events", url.Values{"since": {"0"}, "mode": {"Messages"}, "msgCount": {"100"}})
	post(bot, "ws-auth", "/ws-auth", url.Values{"roomid": {room}})
	post(bot, "new-message", "/chats/"+room+"/messages/new", url.Values{"text": {".\n\u00021234gaRwaW5ngA==\u0003"}})
	m1 := e.s.Messages(e.room.ID)[0].ID
	frame := ".\n\u00023359gaRwaW5ngqhsb2NhdGlvbqtIZW5kZXJzL0VDMql0aW1lc3RhbXDOWseSrg==\u0003"
	post(bot, "edit", fmt.Sprintf("/messages/%d", m1), url.Values{"text": {frame}})

	ac := newClient(t, e.s).login(alice.Email, alice.Password)
	m2 := ac.sendOK(e.room.ID, fmt.Sprintf(":%d hello there", m1))
	post(ac, "star", fmt.Sprintf("/messages/%d/star", m1), url.Values{})
	post(ac, "pin", fmt.Sprintf("/messages/%d/owner-star", m1), url.Values{})
	cc := newClient(t, e.s).login(carol.Email, carol.Password)
	post(cc, "star-carol", fmt.Sprintf("/messages/%d/star", m1), url.Values{})
	post(bot, "star-bot", fmt.Sprintf("/messages/%d/star", m2), url.Values{})

	post(bot, "poll", "/events", url.Values{"r" + room: {"0"}})
	get(bot, "history", fmt.Sprintf("/messages/%d/history", m1))
	get(bot, "transcript", fmt.Sprintf("/transcript/message/%d", m1))
	get(bot, "profile", fmt.Sprintf("/users/%d", e.bot.ID))
	get(bot, "moderator-profile", fmt.Sprintf("/users/%d", mod.ID))
	get(bot, "room-info", "/rooms/info/"+room)
	get(bot, "room", "//rooms/"+room+"/")
	get(bot, "pingable", "/rooms/pingable/"+room)
	post(cc, "leave", "//chats/leave/"+room, url.Values{"quiet": {"true"}})

	f.vars = map[string]string{
		"{room}": room, "{bot}": strconv.FormatInt(e.bot.ID, 10), "{alice}": strconv.FormatInt(alice.ID, 10),
		"{m1}": strconv.FormatInt(m1, 10), "{m2}": strconv.FormatInt(m2, 10), "{frame}": regexp.QuoteMeta(frame),
	}
	return f
}

func (f compatFixture) expand(s string) string {
	for k, v := range f.vars {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// TestChatExchangeCompat checks every row of compatRows against the
// server's answers, parsed with an HTML parser (or as JSON).
func TestChatExchangeCompat(t *testing.T) {
	f := newCompatFixture(t)
	for i, row := range compatRows {
		name := fmt.Sprintf("%02d %s %s %s", i, row.page, row.within, row.sel)
		t.Run(name, func(t *testing.T) {
			body, ok := f.pages[row.page]
			require.True(t, ok, "no page %q in the fixture", row.page)
			var got []string
			if strings.HasPrefix(strings.TrimSpace(body), "<") {
				got = selectHTML(t, body, f.expand(row.within), row.nth, f.expand(row.sel), row.attr)
			} else {
				got = selectJSON(t, body, f.expand(row.sel))
			}
			require.NotEmpty(t, got, "%s reads %q on %s: no match", row.from, row.sel, row.page)
			if row.count > 0 {
				assert.Len(t, got, row.count, "%s: %q", row.from, row.sel)
			}
			if row.want == "" {
				return
			}
			re := regexp.MustCompile(f.expand(row.want))
			if strings.Contains(row.sel, "*") {
				// Any element may hold it.
				for _, g := range got {
					if re.MatchString(g) {
						return
					}
				}
				t.Fatalf("%s: no %q matches %s in %q", row.from, row.sel, re, got)
			}
			assert.Regexp(t, re, got[0], "%s: %q", row.from, row.sel)
		})
	}
	assert.Equal(t, 68, len(compatRows), "rows added or removed: update the count here, in doc.go and in docs/smokedetector.md")
}

// selectHTML returns, for every match of sel within the nth match of
// within, its attribute (attr set) or its text, trimmed as ChatExchange
// strips it. A missing attribute counts as no match.
func selectHTML(t *testing.T, page, within string, nth int, sel, attrName string) []string {
	t.Helper()
	root := parseHTML(t, page)
	if within != "" {
		scopes := selectAll(t, root, within)
		if len(scopes) <= nth {
			return nil
		}
		root = scopes[nth]
	}
	nodes := []*html.Node{root}
	if sel != "" {
		nodes = selectAll(t, root, sel)
	}
	var out []string
	for _, n := range nodes {
		if attrName == "" {
			out = append(out, strings.TrimSpace(text(n)))
		} else if v, ok := attr(n, attrName); ok {
			out = append(out, v)
		}
	}
	return out
}

// selectJSON returns the values at a dotted path, "*" standing for every
// element of an array, each formatted as Python would compare it (numbers
// as written, true/false, strings as they are).
func selectJSON(t *testing.T, body, path string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v), "not JSON: %s", body)
	vals := []any{v}
	if path != "" {
		for seg := range strings.SplitSeq(path, ".") {
			var next []any
			for _, cur := range vals {
				switch c := cur.(type) {
				case map[string]any:
					if x, ok := c[seg]; ok {
						next = append(next, x)
					}
				case []any:
					if seg == "*" {
						next = append(next, c...)
					} else if i, err := strconv.Atoi(seg); err == nil && i < len(c) {
						next = append(next, c[i])
					}
				}
			}
			vals = next
		}
	}
	out := make([]string, 0, len(vals))
	for _, x := range vals {
		if x == nil {
			continue // null is what a missing field reads as
		}
		out = append(out, fmt.Sprint(x))
	}
	return out
}
