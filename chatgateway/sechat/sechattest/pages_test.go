package sechattest_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
)

func TestStarsAndPins(t *testing.T) {
	e := newEnv(t, sechattest.WithKeepAlive(0))
	owner := e.s.AddUser("Owner", "owner@example.com", "pw")
	require.NoError(t, e.s.AddRoomOwner(e.room.ID, owner.ID))
	bot := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	oc := newClient(t, e.s).login(owner.Email, owner.Password)
	id := bot.sendOK(e.room.ID, "pin me")
	action := func(c *client, what string) (int, string) {
		resp, body := c.post(fmt.Sprintf("/messages/%d/%s", id, what), url.Values{"fkey": {c.fkey}})
		return resp.StatusCode, body
	}
	badge := func() (classes, times string) {
		doc := parseHTML(t, e.get(t, fmt.Sprintf("/transcript/message/%d", id)))
		stars := selectAll(t, doc, fmt.Sprintf("#message-%d .stars", id))
		if len(stars) == 0 {
			return "", ""
		}
		classes, _ = attr(stars[0], "class")
		return classes, text(selectAll(t, stars[0], ".times")[0])
	}

	status, body := action(bot, "owner-star")
	assert.Equal(t, http.StatusForbidden, status, "only room owners and moderators pin")
	assert.Equal(t, sechattest.TextPinNotAllowed, body)
	status, _ = action(bot, "unstar")
	assert.Equal(t, http.StatusForbidden, status)

	status, body = action(bot, "star")
	require.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `"ok"`, body)
	classes, times := badge()
	assert.Equal(t, "stars vote-count-container", classes)
	assert.Empty(t, times, "one star shows no number")

	status, _ = action(oc, "owner-star")
	require.Equal(t, http.StatusOK, status)
	classes, times = badge()
	assert.Equal(t, "stars vote-count-container owner-star", classes)
	assert.Equal(t, "2", times, "a pin counts as a star")

	status, _ = action(bot, "star")
	require.Equal(t, http.StatusOK, status, "a second star by the same user takes it back")
	_, times = badge()
	assert.Empty(t, times)

	status, _ = action(oc, "unstar")
	require.Equal(t, http.StatusOK, status)
	classes, _ = badge()
	assert.Empty(t, classes, "no stars, no badge")

	mod := e.s.AddUser("Mod", "mod@example.com", "pw")
	require.NoError(t, e.s.SetModerator(mod.ID, true))
	status, _ = action(newClient(t, e.s).login(mod.Email, mod.Password), "owner-star")
	assert.Equal(t, http.StatusOK, status, "moderators pin anywhere")

	resp, _ := bot.post("/messages/4242/star", url.Values{"fkey": {bot.fkey}})
	assert.Equal(t, http.StatusFound, resp.StatusCode, "an unknown message redirects, as edits do")
	resp, _ = bot.post(fmt.Sprintf("/messages/%d/star", id), url.Values{"fkey": {"bad"}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.ErrorIs(t, e.s.AddRoomOwner(4242, owner.ID), sechattest.ErrUnknownRoom)
	assert.ErrorIs(t, e.s.AddRoomOwner(e.room.ID, 4242), sechattest.ErrUnknownUser)
	assert.ErrorIs(t, e.s.SetModerator(4242, true), sechattest.ErrUnknownUser)
}

func TestTranscriptPages(t *testing.T) {
	e := newEnv(t, sechattest.WithKeepAlive(0))
	alice := e.s.AddUser("Alice", "", "")
	first, err := e.s.Say(e.room.ID, e.bot.ID, "one")
	require.NoError(t, err)
	_, err = e.s.Say(e.room.ID, e.bot.ID, "two")
	require.NoError(t, err)
	reply, err := e.s.Say(e.room.ID, alice.ID, fmt.Sprintf(":%d yes", first))
	require.NoError(t, err)
	notReply, err := e.s.Say(e.room.ID, alice.ID, fmt.Sprintf(":%dx no", first))
	require.NoError(t, err)
	require.NoError(t, e.s.Edit(first, "one, edited"))

	for _, path := range []string{fmt.Sprintf("/transcript/message/%d", first), fmt.Sprintf("/transcript/%d", e.room.ID)} {
		doc := parseHTML(t, e.get(t, path))
		monologues := selectAll(t, doc, ".monologue")
		require.Len(t, monologues, 2, "%s: a monologue per run of one user's messages", path)
		assert.Len(t, selectAll(t, monologues[0], ".message"), 2, path)
		assert.Len(t, selectAll(t, doc, fmt.Sprintf("#message-%d .edits", first)), 1, "%s: edited", path)
		assert.Empty(t, selectAll(t, doc, fmt.Sprintf("#message-%d .reply-info", notReply)), "%s: not a reply", path)
		links := selectAll(t, doc, fmt.Sprintf("#message-%d .reply-info", reply))
		require.Len(t, links, 1, path)
		href, _ := attr(links[0], "href")
		assert.Equal(t, fmt.Sprintf("/transcript/%d?m=%d#%d", e.room.ID, first, first), href)
	}

	c := newClient(t, e.s)
	for _, path := range []string{"/transcript/message/4242", "/transcript/4242", "/users/4242", "/rooms/info/4242"} {
		resp, _ := c.get(path)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, path)
	}
	resp, _ := c.get("/rooms/pingable/4242")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestRepeatedSlashesAreServed(t *testing.T) {
	e := newEnv(t, sechattest.WithKeepAlive(0))
	c := newClient(t, e.s).login(e.bot.Email, e.bot.Password)
	c.sendOK(e.room.ID, "here")
	resp, body := c.post(fmt.Sprintf("//chats/leave/%d", e.room.ID), url.Values{"fkey": {c.fkey}, "quiet": {"true"}})
	assert.Equal(t, http.StatusOK, resp.StatusCode, "served, not redirected (a redirected POST becomes a GET)")
	assert.JSONEq(t, `"ok"`, body)
	for _, path := range []string{fmt.Sprintf("//rooms/%d/", e.room.ID), fmt.Sprintf("/rooms/%d/sandbox", e.room.ID), fmt.Sprintf("///users/%d", e.bot.ID)} {
		resp, _ := c.get(path)
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	assert.Equal(t, 1, e.s.Requests(fmt.Sprintf("/chats/leave/%d", e.room.ID)), "counted under the cleaned path")
}

func TestLoginPageWithCookie(t *testing.T) {
	e := newEnv(t)
	c := newClient(t, e.s)
	_, page := c.get("/users/login")
	assert.Empty(t, selectAll(t, parseHTML(t, page), ".my-profile"), "anonymous")
	c.login(e.bot.Email, e.bot.Password)
	_, page = c.get("/users/login")
	links := selectAll(t, parseHTML(t, page), "a.my-profile")
	require.Len(t, links, 1)
	href, _ := attr(links[0], "href")
	assert.Equal(t, fmt.Sprintf("/users/%d/smoke-detector", e.bot.ID), href)
	assert.Regexp(t, loginFKeyRe, page, "the login form is still there")
	_, page = c.get("/chats/join/favorite")
	assert.NotContains(t, page, "my-profile", "a chat page's top bar has no .my-profile")
}

// get fetches a page anonymously, requiring 200.
func (e env) get(t *testing.T, path string) string {
	t.Helper()
	resp, body := newClient(t, e.s).get(path)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, strings.TrimSpace(body))
	return body
}
