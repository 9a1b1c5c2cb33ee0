package sechat

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBoundedJar(t *testing.T) {
	inner, err := cookiejar.New(nil)
	require.NoError(t, err)
	var logs strings.Builder
	j := newBoundedJar(inner, true, zerolog.New(&logs))
	u, _ := url.Parse("https://chat.stackexchange.com/chats/join/favorite")
	set := func(cs ...*http.Cookie) { j.SetCookies(u, cs) }
	names := func() []string {
		var out []string
		for _, c := range j.Cookies(u) {
			out = append(out, c.Name)
		}
		return out
	}

	set(&http.Cookie{Name: "acct", Value: "a", Path: "/"})
	for i := range 2 * MaxCookiesPerHost {
		set(&http.Cookie{Name: fmt.Sprint("c", i), Value: "v", Path: "/"})
	}
	assert.Len(t, names(), MaxCookiesPerHost)
	assert.Contains(t, names(), "acct")
	assert.Contains(t, logs.String(), "dropped cookies")
	assert.Equal(t, 1, strings.Count(logs.String(), "\n"), "rate-limited")

	// An update of a kept cookie passes; a deletion frees its room.
	set(&http.Cookie{Name: "acct", Value: "b", Path: "/"})
	assert.Contains(t, j.Cookies(u), &http.Cookie{Name: "acct", Value: "b", Quoted: false})
	set(&http.Cookie{Name: "c0", Path: "/", MaxAge: -1})
	set(&http.Cookie{Name: "new", Value: "v", Path: "/"})
	assert.Contains(t, names(), "new")
	assert.NotContains(t, names(), "c0")

	// Expired cookies make room too.
	hc := j.hosts["chat.stackexchange.com"]
	for k, kc := range hc.kept {
		kc.expires = time.Now().Add(-time.Second)
		hc.kept[k] = kc
		break
	}
	set(&http.Cookie{Name: "after-expiry", Value: "v", Path: "/"})
	assert.Len(t, hc.kept, MaxCookiesPerHost)

	// Bytes are bounded as well as count.
	other, _ := url.Parse("https://meta.stackexchange.com/")
	j.SetCookies(other, []*http.Cookie{{Name: "big", Value: strings.Repeat("x", MaxCookieBytesPerHost), Path: "/"}})
	assert.Empty(t, j.Cookies(other))
	j.SetCookies(other, []*http.Cookie{{Name: "small", Value: "x", Path: "/"}})
	assert.Len(t, j.Cookies(other), 1)
}

// The jar's answers come from a cache while the cookies are all for path
// "/" and unexpired, and are always what the wrapped jar says.
func TestBoundedJarCache(t *testing.T) {
	inner, err := cookiejar.New(nil)
	require.NoError(t, err)
	j := newBoundedJar(inner, true, zerolog.Nop())
	parse := func(s string) *url.URL {
		u, err := url.Parse(s)
		require.NoError(t, err)
		return u
	}
	login, msg, chats := parse("https://chat.stackexchange.com/users/login"), parse("https://chat.stackexchange.com/message/1?plain=true"),
		parse("https://chat.stackexchange.com/chats/1/messages/new")
	names := func(u *url.URL) []string {
		var out []string
		for _, c := range j.Cookies(u) {
			out = append(out, c.Name)
		}
		assert.Equal(t, inner.Cookies(u), j.Cookies(u), "as the wrapped jar says")
		return out
	}
	j.SetCookies(login, []*http.Cookie{{Name: "acct", Value: "a", Path: "/"}})
	assert.Equal(t, []string{"acct"}, names(msg))
	assert.Equal(t, []string{"acct"}, names(msg), "again, from the cache")
	require.Len(t, j.cache, 1)
	j.Cookies(msg)[0].Name = "changed by a caller"
	assert.Equal(t, []string{"acct"}, names(msg), "the cache has copies")

	// A new cookie is there at once.
	j.SetCookies(login, []*http.Cookie{{Name: "prov", Value: "p", Path: "/"}})
	assert.ElementsMatch(t, []string{"acct", "prov"}, names(msg))

	// A cookie for a deeper path: answers depend on the path, so none is
	// cached.
	j.SetCookies(chats, []*http.Cookie{{Name: "deep", Value: "d", Path: "/chats"}})
	assert.ElementsMatch(t, []string{"acct", "prov"}, names(msg))
	assert.ElementsMatch(t, []string{"acct", "prov", "deep"}, names(chats))
	assert.Empty(t, j.cache)
	j.SetCookies(chats, []*http.Cookie{{Name: "deep", Path: "/chats", MaxAge: -1}})
	assert.ElementsMatch(t, []string{"acct", "prov"}, names(chats))
	assert.NotEmpty(t, j.cache, "cached again once every cookie is for /")

	// An expiring cookie leaves the answers when it expires.
	j.SetCookies(login, []*http.Cookie{{Name: "brief", Value: "b", Path: "/", Expires: time.Now().Add(100 * time.Millisecond)}})
	assert.Contains(t, names(msg), "brief")
	require.Eventually(t, func() bool { return !slices.Contains(names(msg), "brief") }, 10*time.Second, time.Millisecond)
	assert.ElementsMatch(t, []string{"acct", "prov"}, names(msg))

	// A jar given by the user may change behind the adapter's back: no
	// cache.
	theirs, err := cookiejar.New(nil)
	require.NoError(t, err)
	b := newBoundedJar(theirs, false, zerolog.Nop())
	b.SetCookies(login, []*http.Cookie{{Name: "acct", Value: "a", Path: "/"}})
	assert.Len(t, b.Cookies(msg), 1)
	theirs.SetCookies(login, []*http.Cookie{{Name: "other", Value: "o", Path: "/"}})
	assert.Len(t, b.Cookies(msg), 2)
	assert.Empty(t, b.cache)
}
