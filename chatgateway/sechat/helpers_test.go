package sechat_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/sechat"
	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
)

// waitLimit bounds every blocking step, so that a bug fails a test instead
// of hanging it. Nothing should take near it.
const waitLimit = 10 * time.Second

const password = "correct horse battery staple"

var epoch = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

// fixture is a sechattest server with a room, the bot's account and a
// person's, and the fake clock the adapter runs on.
type fixture struct {
	srv   *sechattest.Server
	room  sechattest.Room
	bot   sechattest.User
	human sechattest.User
	clock *fakeclock.Clock
}

func newFixture(t *testing.T, opts ...sechattest.Option) *fixture {
	t.Helper()
	srv := sechattest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return &fixture{
		srv:   srv,
		room:  srv.AddRoom("Charcoal HQ"),
		bot:   srv.AddUser("SmokeDetector", "smokey@example.com", password),
		human: srv.AddUser("Makyen", "makyen@example.com", "other"),
		clock: fakeclock.New(epoch),
	}
}

// config is the bot's Config for this server, on the fake clock, with its
// own HTTP transport so that no idle connection outlives the test.
func (f *fixture) config(t *testing.T) sechat.Config {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return sechat.Config{
		BaseURL:    f.srv.URL,
		Email:      "smokey@example.com",
		Password:   password,
		Clock:      f.clock,
		HTTPClient: &http.Client{Transport: tr, Timeout: waitLimit},
	}
}

func (f *fixture) client(t *testing.T, edit ...func(*sechat.Config)) *sechat.Client {
	t.Helper()
	cfg := f.config(t)
	for _, e := range edit {
		e(&cfg)
	}
	c, err := sechat.NewClient(cfg)
	require.NoError(t, err)
	return c
}

func dialRoom(t *testing.T, c *sechat.Client, room int64) chatgateway.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	conn, err := c.Room(room).Dial(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func (f *fixture) dial(t *testing.T, edit ...func(*sechat.Config)) chatgateway.Conn {
	t.Helper()
	return dialRoom(t, f.client(t, edit...), f.room.ID)
}

type readResult struct {
	msg messages.ChatMessage
	err error
}

// reader runs the conn's one reader, as the gateway does, until Read fails;
// the test ends it by closing the conn.
func reader(t *testing.T, c chatgateway.Conn) <-chan readResult {
	t.Helper()
	ch := make(chan readResult, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := c.Read()
			ch <- readResult{msg, err}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = c.Close()
		<-done
	})
	return ch
}

func next(t *testing.T, ch <-chan readResult) readResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitLimit):
		t.Fatal("Read did not return")
		return readResult{}
	}
}

func nextMsg(t *testing.T, ch <-chan readResult) messages.ChatMessage {
	t.Helper()
	r := next(t, ch)
	require.NoError(t, r.err)
	return r.msg
}

func nextErr(t *testing.T, ch <-chan readResult) error {
	t.Helper()
	r := next(t, ch)
	require.Error(t, r.err, "got message %+v", r.msg)
	return r.err
}

// waitTimer waits until something is waiting on the fake clock for exactly
// d, such as a 409 wait or a freshly armed liveness deadline.
func waitTimer(t *testing.T, c *fakeclock.Clock, d time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return slices.Contains(c.Timers(), d) }, waitLimit, time.Millisecond,
		"no timer for %s; timers: %v", d, c.Timers())
}

type postResult struct {
	id  int64
	err error
}

func postAsync(c chatgateway.Conn, ctx context.Context, text string) <-chan postResult {
	ch := make(chan postResult, 1)
	go func() {
		id, err := c.Post(ctx, text)
		ch <- postResult{id, err}
	}()
	return ch
}

// logBuffer collects a logger's output from any goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *zerolog.Logger {
	lg := zerolog.New(l).Level(zerolog.TraceLevel)
	return &lg
}

// recordingDialer keeps every byte written on the connections it dials, so
// a test can read the request headers that went out.
type recordingDialer struct {
	mu      sync.Mutex
	written bytes.Buffer
}

func (r *recordingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: c, r: r}, nil
}

func (r *recordingDialer) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.written.String()
}

type recordingConn struct {
	net.Conn
	r *recordingDialer
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.r.mu.Lock()
	c.r.written.Write(p)
	c.r.mu.Unlock()
	return c.Conn.Write(p)
}

// exactChatText makes the client fetch every message's plain source, for
// tests of the fetch path with a person's messages.
func exactChatText(c *sechat.Config) { c.ExactChatText = true }
