package matrix_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/matrix"
	"github.com/socketscience/socketscience/messages"
)

// newDialer makes a Dialer for localpart in room, on a transport of its
// own that the test closes; edit changes the config first.
func newDialer(t *testing.T, url, localpart, room string, edit ...func(*matrix.Config)) *matrix.Dialer {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Str("user", localpart).Logger()
	cfg := matrix.Config{HomeserverURL: url, Room: room, UserID: localpart, Password: password,
		PollTimeout: 2 * time.Second, HTTPClient: &http.Client{Transport: tr}, Logger: &log}
	for _, e := range edit {
		e(&cfg)
	}
	d, err := matrix.NewDialer(cfg)
	require.NoError(t, err)
	return d
}

func dial(t *testing.T, d chatgateway.Dialer) chatgateway.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := d.Dial(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// reading runs Read until it fails; the test reads the messages from the
// channel, and the error after it closes from the returned func.
type reading struct {
	msgs chan messages.ChatMessage
	err  error
	done chan struct{}
}

func read(t *testing.T, c chatgateway.Conn) *reading {
	r := &reading{msgs: make(chan messages.ChatMessage, 1024), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer close(r.msgs)
		for {
			m, err := c.Read()
			if err != nil {
				r.err = err
				return
			}
			r.msgs <- m
		}
	}()
	t.Cleanup(func() { c.Close(); <-r.done })
	return r
}

// next returns the next message whose text satisfies keep.
func (r *reading) next(t *testing.T, keep func(string) bool) messages.ChatMessage {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case m, ok := <-r.msgs:
			require.True(t, ok, "Read failed: %v", r.err)
			if keep(m.Text) {
				return m
			}
		case <-timeout:
			t.Fatal("no message in time")
		}
	}
}

// failed waits for Read to fail and returns its error.
func (r *reading) failed(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(within):
		t.Fatalf("Read did not fail within %v", within)
		return nil
	}
}

func anyText(string) bool { return true }

func errorsAs(err error, target any) bool { return errors.As(err, target) }
func errorsIs(err, target error) bool     { return errors.Is(err, target) }
