package sechat_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/sechat"
)

// ---------------------------------------------------------------------------
// Broken and hostile servers, one test per failure seen.

// A server answering every post 409 "again in 0 seconds" made Post retry
// on the writer goroutine, and the gateway re-post at once: 63 826 POSTs
// in 3 s for one payload. Post makes one attempt and hands the wait, at
// least MinRetryAfter, to the gateway.
func TestThrottledZeroSecondsIsOneAttempt(t *testing.T) {
	h := newHostile(t)
	h.on(routePost, func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		answer(w, http.StatusConflict, "You can perform this action again in 0 seconds")
		return true
	})
	conn := h.dial(t)
	res := postAsync(conn, context.Background(), "payload")
	var r postResult
	require.Eventually(t, func() bool {
		h.clock.Advance(0) // were Post to wait on the clock, let it
		select {
		case r = <-res:
			return true
		default:
			return false
		}
	}, waitLimit, time.Millisecond)
	assert.Equal(t, 1, h.requests(routePost), "one attempt, no retry inside Post")
	var ra *chatgateway.RetryAfterError
	require.True(t, errors.As(r.err, &ra), "want a RetryAfterError, got %v", r.err)
	assert.GreaterOrEqual(t, ra.After, time.Second)
	assert.ErrorIs(t, r.err, sechat.ErrThrottled)
}

// A payload the server answers 400 made the gateway reconnect and post it
// again forever. A refusal that repeating cannot change is Rejected: the
// gateway drops and counts it. Other answers keep their meaning.
func TestPostRefusedByStatus(t *testing.T) {
	for _, tc := range []struct {
		status     int
		rejected   bool
		retryAfter bool
		also       error
	}{
		{status: http.StatusBadRequest, rejected: true},
		{status: http.StatusRequestEntityTooLarge, rejected: true, also: chatgateway.ErrMessageTooLong},
		{status: http.StatusRequestURITooLong, rejected: true, also: chatgateway.ErrMessageTooLong},
		{status: http.StatusUnsupportedMediaType, rejected: true},
		{status: http.StatusUnprocessableEntity, rejected: true},
		{status: http.StatusTooManyRequests, retryAfter: true},
		{status: http.StatusUnauthorized},
		{status: http.StatusInternalServerError},
		{status: http.StatusServiceUnavailable},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			h := newHostile(t)
			h.on(routePost, func(w http.ResponseWriter, _ *http.Request, _ int) bool {
				answer(w, tc.status, "no")
				return true
			})
			conn := h.dial(t)
			text := ".\nhi"
			if tc.status == http.StatusBadRequest {
				text = ".\n" + strings.Repeat("A", 745<<10) // as seen
			}
			_, err := conn.Post(context.Background(), text)
			require.Error(t, err)
			assert.Equal(t, tc.rejected, errors.Is(err, chatgateway.ErrRejected), "rejected: %v", err)
			var ra *chatgateway.RetryAfterError
			assert.Equal(t, tc.retryAfter, errors.As(err, &ra), "retry after: %v", err)
			assert.NotErrorIs(t, err, chatgateway.ErrPermanent)
			if tc.also != nil {
				assert.ErrorIs(t, err, tc.also)
			}
			assert.Contains(t, err.Error(), strconv.Itoa(tc.status))
			assert.Equal(t, 1, h.requests(routePost))
		})
	}
}

// {"time":1} with no id was counted rejected although the message was
// posted. Only a post has a time: it is a success, id unknown (0). A null
// id with a null time is still the duplicate refusal.
func TestPostAnsweredWithoutID(t *testing.T) {
	h := newHostile(t)
	h.on(routePost, func(w http.ResponseWriter, r *http.Request, n int) bool {
		h.say(hostileBot, r.FormValue("text"))
		if n == 1 {
			answer(w, http.StatusOK, `{"time":1}`)
		} else {
			answer(w, http.StatusOK, `{"id":null,"time":null}`)
		}
		return true
	})
	conn := h.dial(t)
	ch := reader(t, conn)
	id, err := conn.Post(context.Background(), "delivered")
	require.NoError(t, err)
	assert.Zero(t, id, "id unknown")
	msg := nextMsg(t, ch)
	assert.Equal(t, "delivered", msg.Text, "the echo is read all the same")

	_, err = conn.Post(context.Background(), "delivered")
	assert.ErrorIs(t, err, sechat.ErrDuplicate)
}

// The contract asks every adapter to name the room: signatures cover it.
func TestIdentityNamesTheRoom(t *testing.T) {
	h := newHostile(t)
	c := h.client(t)
	conn := dialRoom(t, c, hostileRoom)
	host := strings.TrimPrefix(h.URL, "http://")
	assert.Equal(t, chatgateway.Identity{UserID: hostileBot, UserName: "bot", Room: host + "/rooms/11540"}, conn.Identity())
	assert.Empty(t, conn.Identity().Account, "SE accounts are numbers")
	assert.Empty(t, c.Identity().Room, "a Client is in no one room")
}

// A socket URL the URL parser refuses (a control character in it) put the
// socket token into the Dial error, and from there into Health().Err, the
// state handler and logs: the parser's error quotes the whole URL.
func TestSocketTokenStaysOutOfErrors(t *testing.T) {
	for name, bad := range map[string]func(good string) string{
		"control character in the path":  func(u string) string { return u + "\x7f" },
		"control character in the query": func(u string) string { return u + "?tok=" + hostileToken + "\x01" },
		"credentials and a bad port":     func(u string) string { return strings.Replace(u, "ws://", "ws://user:"+hostileToken+"@", 1) + ":x" },
	} {
		t.Run(name, func(t *testing.T) {
			h := newHostile(t)
			h.on(routeWSAuth, func(w http.ResponseWriter, _ *http.Request, _ int) bool {
				writeJSON(w, map[string]string{"url": bad(h.socketURL())})
				return true
			})
			var logs logBuffer
			c := h.client(t, func(cfg *sechat.Config) { cfg.Logger = logs.logger() })
			_, err := c.Room(hostileRoom).Dial(context.Background())
			require.Error(t, err)
			assert.NotContains(t, err.Error(), hostileToken)
			assert.NotContains(t, err.Error(), "l=")
			assert.NotContains(t, logs.String(), hostileToken)
		})
	}
}

// A server setting a few hundred new cookies on every answer grew the jar
// without bound: 7 400 cookies, a 1.2 MiB Cookie header on every request.
// The jar keeps at most 50 cookies and 16 KiB per host.
func TestSetCookieFloodIsBounded(t *testing.T) {
	h := newHostile(t)
	var mu sync.Mutex
	var headers []string
	h.on(routePlain, func(w http.ResponseWriter, r *http.Request, n int) bool {
		mu.Lock()
		headers = append(headers, r.Header.Get("Cookie"))
		mu.Unlock()
		for i := range 500 {
			http.SetCookie(w, &http.Cookie{Name: fmt.Sprintf("flood%d_%d", n, i), Value: strings.Repeat("v", 20), Path: "/"})
		}
		return false // and answer as usual
	})
	ch := reader(t, h.dial(t))
	const lines = 15
	for i := range lines {
		h.sayHuman(fmt.Sprint("line ", i))
		assert.Equal(t, fmt.Sprint("line ", i), nextMsg(t, ch).Text, "fetches keep completing")
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, headers, lines)
	for i, hdr := range headers {
		assert.LessOrEqual(t, len(hdr), 16<<10+2*50, "Cookie header of fetch %d", i+1)
		assert.LessOrEqual(t, len(strings.Split(hdr, "; ")), 50, "cookies in fetch %d", i+1)
	}
	assert.Contains(t, headers[lines-1], "acct=bot", "the session cookie, set first, is kept")
}

// One frame with a "t" far ahead, or a server whose counter restarted
// lower, poisoned the resume cursor: every "t" was taken, the cursor only
// moved forward, and the frames after it, one said live and one said
// while the socket was down, were never read, with nothing counted. An
// implausible cursor fails the connection, and the next Dial re-establishes
// the cursor from the events endpoint.
func TestPoisonedCursorIsNotFollowed(t *testing.T) {
	for name, corrupt := range map[string]func(h *hostile){
		"far ahead":       func(h *hostile) { h.poison(1_000_000_000_000) },
		"restarted lower": func(h *hostile) { h.restart(500) },
	} {
		t.Run(name, func(t *testing.T) {
			h := newHostile(t)
			d := h.client(t).Room(hostileRoom)
			dial := func() <-chan readResult {
				t.Helper()
				conn, err := d.Dial(context.Background())
				require.NoError(t, err)
				return reader(t, conn)
			}
			ch := dial()
			h.sayHuman("before")
			assert.Equal(t, "before", nextMsg(t, ch).Text)

			corrupt(h)
			h.sayHuman("live")
			err := nextErr(t, ch)
			t.Log(err)
			require.Eventually(t, func() bool { return h.socketCount() == 0 }, waitLimit, time.Millisecond,
				"the adapter closed the socket")
			h.sayHuman("said during the outage")

			ch = dial()
			assert.Equal(t, "live", nextMsg(t, ch).Text)
			assert.Equal(t, "said during the outage", nextMsg(t, ch).Text)
			h.sayHuman("after")
			assert.Equal(t, "after", nextMsg(t, ch).Text)
		})
	}
}

// A plain-source fetch that stalled deafened the node while its socket
// stayed healthy: the liveness timer was off during fetches and the fetch
// had only the HTTP client's timeout. The socket is read throughout (its
// keep-alives re-arm the liveness deadline while the fetch hangs), and
// the fetch, retries included, gives up by the liveness deadline, on the
// clock.
func TestStalledFetchDoesNotDeafen(t *testing.T) {
	h := newHostile(t)
	var stalled atomic.Bool
	h.on(routePlain, func(_ http.ResponseWriter, r *http.Request, _ int) bool {
		// The first message's first fetch stalls; fetches run in
		// parallel, so it need not be the first request.
		if r.PathValue("id") == "1" && stalled.CompareAndSwap(false, true) {
			h.stall(r)
			return true
		}
		return false
	})
	ch := reader(t, h.dial(t))
	h.sayHuman("first")
	h.sayHuman("second")
	// The second fetch does not wait for the first (fetches are
	// pipelined); the second message still waits to be returned.
	require.Eventually(t, func() bool { return h.requests(routePlain) == 2 }, waitLimit, time.Millisecond)
	assert.Empty(t, ch, "nothing returned before the first message")

	step := sechat.DefaultLivenessTimeout / 3
	for range 3 {
		h.keepAlive()
		waitTimer(t, h.clock, sechat.DefaultLivenessTimeout) // read while the fetch hangs
		h.clock.Advance(step)
	}
	// Both messages need the clock: the stalled fetch gives up on it, and
	// the second one's fetch may wait on it too.
	require.Eventually(t, func() bool {
		h.keepAlive()
		h.clock.Advance(100 * time.Millisecond)
		return len(ch) >= 2
	}, waitLimit, time.Millisecond)
	assert.Equal(t, "first", nextMsg(t, ch).Text, "the socket stayed up")
	assert.Equal(t, "second", nextMsg(t, ch).Text)
	assert.Equal(t, 1, h.socketCount())
}

// Three 503s on a plain-source fetch, within a few milliseconds, and the
// frame was skipped for good: the retries had no delay, and the resume
// cursor moved past it. The retries back off on the clock, and a fetch
// that still fails fails the connection without moving the cursor, so that
// the redial replays the frame: never skip.
func TestPlainSource503sDoNotSkipTheFrame(t *testing.T) {
	h := newHostile(t)
	h.on(routePlain, func(w http.ResponseWriter, _ *http.Request, n int) bool {
		if n <= 3 {
			answer(w, http.StatusServiceUnavailable, "try later")
			return true
		}
		return false
	})
	d := h.client(t).Room(hostileRoom)
	conn, err := d.Dial(context.Background())
	require.NoError(t, err)
	ch := reader(t, conn)
	h.sayHuman("through the 503s")

	// Drive the clock (with keep-alives, so that the socket stays live),
	// and redial whenever Read fails, as the gateway would.
	var got []string
	var dialErr error
	redials := 0
	require.Eventually(t, func() bool {
		h.keepAlive()
		h.clock.Advance(100 * time.Millisecond)
		select {
		case r := <-ch:
			if r.err == nil {
				got = append(got, r.msg.Text)
				return true
			}
			redials++
			conn, dialErr = d.Dial(context.Background())
			if dialErr != nil {
				return true
			}
			ch = reader(t, conn)
		default:
		}
		return false
	}, waitLimit, time.Millisecond, "the frame was never delivered")
	require.NoError(t, dialErr)
	assert.Equal(t, []string{"through the 503s"}, got)
	assert.Equal(t, 4, h.requests(routePlain))
	t.Log("redials: ", redials)
}

// The retries are spaced on the clock, and a message a server never serves
// holds the room back for MaxFetchFailures connections, not for good.
func TestPlainSourceRetriesBackOff(t *testing.T) {
	h := newHostile(t)
	var stuck atomic.Int64
	var stuckRequests atomic.Int32
	h.on(routePlain, func(w http.ResponseWriter, r *http.Request, _ int) bool {
		if r.PathValue("id") == strconv.FormatInt(stuck.Load(), 10) {
			stuckRequests.Add(1)
			answer(w, http.StatusBadGateway, "bad gateway")
			return true
		}
		return false
	})
	var logs logBuffer
	d := h.client(t, func(cfg *sechat.Config) { cfg.Logger = logs.logger() }).Room(hostileRoom)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	conn, err := d.Dial(context.Background())
	require.NoError(t, err)
	ch := reader(t, conn)
	stuck.Store(1) // the id the next message gets, set before the fetch can race it
	require.Equal(t, int64(1), h.sayHuman("never served"))
	h.sayHuman("after")

	require.Eventually(t, func() bool { return stuckRequests.Load() == 1 }, waitLimit, time.Millisecond)
	for try := 1; try < sechat.PlainTries; try++ {
		wait := sechat.PlainRetryDelay << (try - 1)
		waitTimer(t, h.clock, wait)
		assert.Equal(t, int32(try), stuckRequests.Load(), "no retry before the backoff")
		h.clock.Advance(wait)
		require.Eventually(t, func() bool { return stuckRequests.Load() == int32(try+1) }, waitLimit, time.Millisecond)
	}
	err = nextErr(t, ch)
	assert.ErrorIs(t, err, sechat.ErrNoPlainSource)
	assert.Contains(t, err.Error(), "HTTP 502")

	conn, err = d.Dial(context.Background())
	require.NoError(t, err)
	ch = reader(t, conn)
	var got []string
	dials := 2
	require.Eventually(t, func() bool {
		h.keepAlive()
		h.clock.Advance(100 * time.Millisecond)
		select {
		case r := <-ch:
			if r.err == nil {
				got = append(got, r.msg.Text)
				return true
			}
			if conn, err = d.Dial(context.Background()); err != nil {
				return true
			}
			dials++
			ch = reader(t, conn)
		default:
		}
		return false
	}, waitLimit, time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, []string{"after"}, got, "skipped after as many connections")
	assert.Equal(t, sechat.MaxFetchFailures, dials, "failed on all but the last")
	assert.Equal(t, int32(sechat.PlainTries*sechat.MaxFetchFailures), stuckRequests.Load())
}

// Frames that are not JSON, or not the shape expected, are skipped; the
// socket carries on.
func TestGarbageFramesAreSkipped(t *testing.T) {
	h := newHostile(t)
	ch := reader(t, h.dial(t))
	for _, f := range []string{
		`not json`, `[]`, `{"r11540":[]}`, `{"r11540":{"e":"x","t":1}}`, `{"r11540":{"e":[1,"x",{"event_type":"1"}]}}`,
		`{"r11540":{"e":[{"event_type":1,"message_id":0}]}}`, `{"r11540":{"t":"x"}}`, `{}`, `null`,
	} {
		h.send(f)
	}
	h.sayHuman("still here")
	assert.Equal(t, "still here", nextMsg(t, ch).Text)
}

// The HTTP client's Timeout bounds each request, applied by the adapter
// as a deadline on the request's context: a post the server never
// answers fails within it, as a plain error (the gateway reconnects).
func TestHTTPTimeoutBoundsAStalledPost(t *testing.T) {
	h := newHostile(t)
	h.on(routePost, func(_ http.ResponseWriter, r *http.Request, _ int) bool {
		h.stall(r)
		return true
	})
	const timeout = 300 * time.Millisecond
	conn := h.dial(t, func(c *sechat.Config) { c.HTTPClient.Timeout = timeout })
	start := time.Now()
	_, err := conn.Post(context.Background(), ".\nhi")
	el := time.Since(start)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, chatgateway.ErrPermanent)
	assert.GreaterOrEqual(t, el, timeout)
	assert.Less(t, el, waitLimit)
}
