package matrix_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// proxy stands between a connection and Dendrite on loopback and does what
// a network or a stricter server would: cut the answer to a post after
// the server took it, refuse every connection for a while, hold /sync
// unanswered, or rate limit sends the way Dendrite limits other requests.
type proxy struct {
	t        *testing.T
	upstream string
	srv      *httptest.Server
	client   *http.Client

	mu        sync.Mutex
	dropSends int  // the next dropSends PUT /send requests are forwarded, their answers cut
	down      bool // every connection is cut unanswered
	holdSync  bool // /sync requests are held until the client gives up
	limit     *limiter
	refuseMsg int      // the next refuseMsg /messages requests get M_LIMIT_EXCEEDED
	sendPaths []string // PUT /send paths forwarded

	limited atomic.Int64 // requests refused with M_LIMIT_EXCEEDED
}

func newProxy(t *testing.T, upstream string) *proxy {
	tr := &http.Transport{}
	p := &proxy{t: t, upstream: upstream, client: &http.Client{Transport: tr}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		p.srv.CloseClientConnections()
		p.srv.Close()
		tr.CloseIdleConnections()
	})
	return p
}

func (p *proxy) URL() string { return p.srv.URL }

func (p *proxy) set(f func(p *proxy)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *proxy) sends() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.sendPaths...)
}

// cut closes the client's connection without an answer.
func cut(w http.ResponseWriter) {
	if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
		c.Close()
	}
}

func (p *proxy) serve(w http.ResponseWriter, r *http.Request) {
	isSend := r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/send/")
	p.mu.Lock()
	down, hold := p.down, p.holdSync && strings.HasSuffix(r.URL.Path, "/sync")
	drop := isSend && p.dropSends > 0
	if drop {
		p.dropSends--
	}
	limited := isSend && p.limit != nil && !p.limit.allow(time.Now())
	retryMS := int64(500)
	if p.limit != nil {
		retryMS = p.limit.cooloff.Milliseconds()
	}
	if strings.HasSuffix(r.URL.Path, "/messages") && p.refuseMsg > 0 {
		p.refuseMsg--
		limited = true
	}
	if isSend && !limited {
		p.sendPaths = append(p.sendPaths, r.URL.Path)
	}
	p.mu.Unlock()
	switch {
	case down:
		cut(w)
		return
	case hold:
		<-r.Context().Done()
		return
	case limited:
		p.limited.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = fmt.Fprintf(w, `{"errcode":"M_LIMIT_EXCEEDED","error":"You are sending too many requests too quickly!","retry_after_ms":%d}`, retryMS)
		return
	}
	body, _ := io.ReadAll(r.Body)
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		cut(w)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		cut(w)
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil || drop { // the server took the post; its answer is lost
		cut(w)
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

// limiter is Dendrite's client rate limiter (internal/httputil): at most
// threshold requests in any cooloff window.
type limiter struct {
	threshold int
	cooloff   time.Duration
	times     []time.Time
}

func (l *limiter) allow(now time.Time) bool {
	for len(l.times) > 0 && now.Sub(l.times[0]) >= l.cooloff {
		l.times = l.times[1:]
	}
	if len(l.times) >= l.threshold {
		return false
	}
	l.times = append(l.times, now)
	return true
}
