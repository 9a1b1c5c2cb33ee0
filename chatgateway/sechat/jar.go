package sechat

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

const (
	// MaxCookiesPerHost is how many cookies the adapter keeps from one
	// host; further new cookies from it are dropped. A real SE session
	// needs a handful (acct, prov, a few more); a server that floods
	// Set-Cookie headers once grew the jar to 7 400 cookies and a 1.2 MiB
	// Cookie header on every request.
	MaxCookiesPerHost = 50
	// MaxCookieBytesPerHost bounds the names and values (and domains and
	// paths) of the cookies kept from one host, so that the Cookie header
	// the host gets back stays near this size.
	MaxCookieBytesPerHost = 16 << 10
	// maxCookieHosts bounds how many hosts may set cookies at all (the
	// chat and login sites, and whatever they redirect to); cookies from
	// further hosts are dropped.
	maxCookieHosts = 16
	// cookieDropLogPeriod spaces the warnings about dropped cookies: a
	// flood would otherwise flood the log too.
	cookieDropLogPeriod = time.Minute
)

// boundedJar keeps what each host may store in the jar within
// MaxCookiesPerHost and MaxCookieBytesPerHost, counting by the host that
// set the cookie, and passes everything else to the jar it wraps. The
// Cookie header a host gets back is then bounded too: it holds at most its
// own cookies and those of the few parent-domain hosts the adapter talks
// to. Cookies already in a jar given to NewClient are not counted.
//
// Updates and deletions of a cookie already kept always pass; a new cookie
// over the bound is dropped, and counted in a rate-limited warning.
//
// When the wrapped jar is the adapter's own (changed only through this
// one), Cookies answers from a cache per scheme and host while every
// cookie is for path "/" (so the answer does not depend on the request's
// path) and none has expired since: asking the wrapped jar, and sorting its
// answer, for every request was 3% of a node's CPU end to end.
type boundedJar struct {
	inner http.CookieJar
	log   zerolog.Logger // sampled: at most one warning per cookieDropLogPeriod
	own   bool           // inner is changed only through this jar

	mu    sync.Mutex
	hosts map[string]*hostCookies
	// The cache: what inner answered, valid while rootOnly and before
	// until (zero: no kept cookie expires); gen counts the changes to
	// inner, so that an answer had during one is not cached.
	cache    map[cacheKey][]*http.Cookie
	rootOnly bool
	until    time.Time
	gen      uint64
}

type cacheKey struct{ scheme, host string }

type hostCookies struct {
	kept  map[cookieKey]keptCookie
	bytes int
}

// cookieKey is what makes two cookies distinct in a jar (RFC 6265 §5.3).
type cookieKey struct{ name, domain, path string }

type keptCookie struct {
	size    int
	expires time.Time // zero: a session cookie
}

// newBoundedJar wraps inner; own says that inner is the adapter's own, an
// empty jar that nothing else changes.
func newBoundedJar(inner http.CookieJar, own bool, log zerolog.Logger) *boundedJar {
	return &boundedJar{
		inner:    inner,
		own:      own,
		log:      log.Sample(&zerolog.BurstSampler{Burst: 1, Period: cookieDropLogPeriod}),
		hosts:    make(map[string]*hostCookies),
		rootOnly: true,
	}
}

// Cookies returns the wrapped jar's cookies for u.
func (j *boundedJar) Cookies(u *url.URL) []*http.Cookie {
	if !j.own {
		return j.inner.Cookies(u)
	}
	key, now := cacheKey{u.Scheme, u.Host}, time.Now()
	j.mu.Lock()
	if !j.until.IsZero() && !now.Before(j.until) {
		// A kept cookie expired: the wrapped jar drops it as it answers.
		for _, hc := range j.hosts {
			hc.prune(now)
		}
		j.changedLocked()
	}
	cs, ok := j.cache[key]
	gen := j.gen
	j.mu.Unlock()
	if ok {
		return copyCookies(cs)
	}
	cs = j.inner.Cookies(u)
	j.mu.Lock()
	if j.gen == gen && j.rootOnly {
		if j.cache == nil {
			j.cache = make(map[cacheKey][]*http.Cookie)
		}
		j.cache[key] = copyCookies(cs)
	}
	j.mu.Unlock()
	return cs
}

// copyCookies copies cs, cookies and all, so that the cache's are never a
// caller's.
func copyCookies(cs []*http.Cookie) []*http.Cookie {
	vals := make([]http.Cookie, len(cs))
	out := make([]*http.Cookie, len(cs))
	for i, c := range cs {
		vals[i] = *c
		out[i] = &vals[i]
	}
	return out
}

// changedLocked forgets the cache after the kept cookies changed, and
// says when a new one is valid.
func (j *boundedJar) changedLocked() {
	j.gen++
	j.cache = nil
	j.rootOnly, j.until = true, time.Time{}
	for _, hc := range j.hosts {
		for k, kc := range hc.kept {
			if k.path != "/" {
				j.rootOnly = false
			}
			if !kc.expires.IsZero() && (j.until.IsZero() || kc.expires.Before(j.until)) {
				j.until = kc.expires
			}
		}
	}
}

// SetCookies stores cookies set by u's host within its bounds.
func (j *boundedJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	host := strings.ToLower(u.Hostname())
	now := time.Now() // cookie expiry is wall time, as in the wrapped jar
	keep := make([]*http.Cookie, 0, min(len(cookies), MaxCookiesPerHost))
	dropped := 0
	j.mu.Lock()
	hc := j.hosts[host]
	if hc == nil && len(j.hosts) < maxCookieHosts {
		hc = &hostCookies{kept: make(map[cookieKey]keptCookie)}
		j.hosts[host] = hc
	}
	for _, c := range cookies {
		if hc == nil {
			dropped++
			continue
		}
		if hc.set(c, u, now) {
			keep = append(keep, c)
		} else {
			dropped++
		}
	}
	var kept, bytes int
	if hc != nil {
		kept, bytes = len(hc.kept), hc.bytes
	}
	if len(keep) > 0 {
		j.inner.SetCookies(u, keep) // under j.mu, so that Cookies caches no answer from before
	}
	j.changedLocked()
	j.mu.Unlock()
	if dropped > 0 {
		j.log.Warn().Str("host", host).Int("dropped", dropped).Int("kept", kept).Int("bytes", bytes).
			Msg("dropped cookies over the per-host bound")
	}
}

// set records c, set by a response from u, and reports whether it fits.
func (hc *hostCookies) set(c *http.Cookie, u *url.URL, now time.Time) bool {
	path := c.Path
	if path == "" || path[0] != '/' {
		path = defaultCookiePath(u.Path)
	}
	k := cookieKey{name: c.Name, domain: strings.TrimPrefix(strings.ToLower(c.Domain), "."), path: path}
	old, had := hc.kept[k]
	if c.MaxAge < 0 || (!c.Expires.IsZero() && !c.Expires.After(now)) {
		// A deletion: always passes, and frees its room.
		if had {
			delete(hc.kept, k)
			hc.bytes -= old.size
		}
		return true
	}
	size := len(k.name) + len(c.Value) + len(k.domain) + len(k.path)
	if !had && len(hc.kept) >= MaxCookiesPerHost {
		hc.prune(now)
	}
	if (!had && len(hc.kept) >= MaxCookiesPerHost) || hc.bytes-old.size+size > MaxCookieBytesPerHost {
		return false
	}
	kc := keptCookie{size: size}
	switch {
	case c.MaxAge > 0:
		kc.expires = now.Add(time.Duration(c.MaxAge) * time.Second)
	case !c.Expires.IsZero():
		kc.expires = c.Expires
	}
	hc.kept[k] = kc
	hc.bytes += size - old.size
	return true
}

// prune forgets the cookies that have expired, as the wrapped jar has.
func (hc *hostCookies) prune(now time.Time) {
	for k, kc := range hc.kept {
		if !kc.expires.IsZero() && !kc.expires.After(now) {
			delete(hc.kept, k)
			hc.bytes -= kc.size
		}
	}
}

// defaultCookiePath is RFC 6265 §5.1.4's default path of a request path.
func defaultCookiePath(p string) string {
	if p == "" || p[0] != '/' {
		return "/"
	}
	i := strings.LastIndex(p, "/")
	if i == 0 {
		return "/"
	}
	return p[:i]
}
