package sechat

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
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
	j := newBoundedJar(inner, zerolog.New(&logs))
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
