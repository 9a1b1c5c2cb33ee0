package matrix_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/matrix"
)

// answer is what the fake homeserver says to one kind of request.
type answer struct {
	status int
	header map[string]string
	body   string
}

// fakeHomeserver answers login, whoami, join and sync as a homeserver
// would, and what the test sets for sends, logins and syncs.
type fakeHomeserver struct {
	mu                 sync.Mutex
	login, send, sync_ *answer
}

func (f *fakeHomeserver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	var a *answer
	switch p := r.URL.Path; {
	case strings.HasSuffix(p, "/login"):
		a = f.login
	case strings.Contains(p, "/send/"):
		a = f.send
	case strings.HasSuffix(p, "/sync") && r.URL.Query().Get("since") != "":
		a = f.sync_
	}
	f.mu.Unlock()
	if a == nil {
		a = &answer{status: 200, body: map[bool]string{true: `{"access_token":"tok","device_id":"DEV","user_id":"@bot:fake"}`}[strings.HasSuffix(r.URL.Path, "/login")]}
		switch {
		case strings.HasSuffix(r.URL.Path, "/whoami"):
			a.body = `{"user_id":"@bot:fake","device_id":"DEV"}`
		case strings.Contains(r.URL.Path, "/join/"):
			a.body = `{"room_id":"!r:fake"}`
		case strings.HasSuffix(r.URL.Path, "/sync"):
			a.body = `{"next_batch":"s1"}`
		case strings.Contains(r.URL.Path, "/send/"):
			a.body = `{"event_id":"$e"}`
		}
	}
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func fakeServer(t *testing.T) (*fakeHomeserver, string) {
	f := &fakeHomeserver{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// How each refusal of a send is classified for the gateway.
func TestPostRefusals(t *testing.T) {
	f, url := fakeServer(t)
	c := dial(t, newDialer(t, url, "bot", "#bots:fake"))
	assert.Equal(t, "matrix://fake/!r:fake", c.Identity().Room)
	limit := `{"errcode":"M_LIMIT_EXCEEDED","error":"slow down"`
	for _, tc := range []struct {
		name                      string
		answer                    answer
		retry                     time.Duration
		rejected, long, permanent bool
	}{
		{"retry_after_ms", answer{429, nil, limit + `,"retry_after_ms":1234}`}, 1234 * time.Millisecond, false, false, false},
		{"Retry-After", answer{429, map[string]string{"Retry-After": "3"}, limit + `}`}, 3 * time.Second, false, false, false},
		{"no hint", answer{429, nil, limit + `}`}, time.Second, false, false, false},
		{"M_TOO_LARGE", answer{413, nil, `{"errcode":"M_TOO_LARGE","error":"big"}`}, 0, true, true, false},
		{"413 M_BAD_JSON, as Dendrite says it", answer{413, nil, `{"errcode":"M_BAD_JSON","error":"event is too long"}`}, 0, true, true, false},
		{"M_BAD_JSON", answer{400, nil, `{"errcode":"M_BAD_JSON","error":"bad"}`}, 0, true, false, false},
		{"M_FORBIDDEN", answer{403, nil, `{"errcode":"M_FORBIDDEN","error":"muted"}`}, 0, false, false, true},
		{"M_UNKNOWN", answer{500, nil, `{"errcode":"M_UNKNOWN","error":"oops"}`}, 0, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.mu.Lock()
			f.send = &tc.answer
			f.mu.Unlock()
			_, err := c.Post(context.Background(), "text")
			require.Error(t, err)
			var ra *chatgateway.RetryAfterError
			if assert.Equal(t, tc.retry != 0, errorsAs(err, &ra), "%v", err) && tc.retry != 0 {
				assert.Equal(t, tc.retry, ra.After)
			}
			assert.Equal(t, tc.rejected, errorsIs(err, chatgateway.ErrRejected), "%v", err)
			assert.Equal(t, tc.long, errorsIs(err, chatgateway.ErrMessageTooLong), "%v", err)
			assert.Equal(t, tc.permanent, errorsIs(err, chatgateway.ErrPermanent), "%v", err)
		})
	}
}

// A deactivated account cannot log in, for good; a sync answer over
// MaxResponseSize fails Read instead of filling the heap.
func TestDeactivatedAndOversized(t *testing.T) {
	f, url := fakeServer(t)
	f.login = &answer{403, nil, `{"errcode":"M_USER_DEACTIVATED","error":"gone"}`}
	_, err := newDialer(t, url, "bot", "#bots:fake").Dial(context.Background())
	assert.ErrorIs(t, err, chatgateway.ErrPermanent)
	assert.ErrorIs(t, err, matrix.ErrAuth)

	f.mu.Lock()
	f.login = nil
	f.sync_ = &answer{200, nil, `{"next_batch":"` + strings.Repeat("x", matrix.MaxResponseSize) + `"}`}
	f.mu.Unlock()
	c := dial(t, newDialer(t, url, "bot", "#bots:fake"))
	err = read(t, c).failed(t, wait)
	require.Error(t, err)
	assert.True(t, errorsIs(err, mautrix.ErrBodyReadReachedLimit) || errorsIs(err, mautrix.ErrResponseTooLong), "%v", err)
}
