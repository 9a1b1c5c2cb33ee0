package sechat_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway/sechat"
	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
)

type beverage struct {
	MessageID int64  `json:"message_id"`
	Type      string `json:"beverage_type"`
	Note      string `json:"note"`
}

// Two nodes of one account in one room, on one Client, through the real
// gateway over HTTP and websockets: the payload one sends reaches the
// other's handler. The frame is far longer than the partial threshold, so
// only the plain source carries it whole.
func TestEndToEndTwoNodesOneAccount(t *testing.T) {
	srv := sechattest.NewServer()
	t.Cleanup(srv.Close)
	room := srv.AddRoom("Charcoal HQ")
	srv.AddUser("SmokeDetector", "smokey@example.com", password)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	client, err := sechat.NewClient(sechat.Config{
		Logger:     &log,
		BaseURL:    srv.URL,
		Email:      "smokey@example.com",
		Password:   password,
		HTTPClient: &http.Client{Transport: tr, Timeout: waitLimit},
	})
	require.NoError(t, err)

	node := func(id string) *socketscience.Node {
		n, err := socketscience.New(client.Room(room.ID), socketscience.WithNodeID(id), socketscience.WithLogger(log.With().Str("node", id).Logger()))
		require.NoError(t, err)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			assert.NoError(t, n.Close(ctx))
		})
		return n
	}
	a, b := node("Henders/EC2"), node("Makyen/EC2-linux")
	got := make(chan beverage, 10)
	_, err = socketscience.Handle(b, "beverage", func(_ context.Context, v beverage) error {
		got <- v
		return nil
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	require.NoError(t, a.WaitConnected(ctx))
	require.NoError(t, b.WaitConnected(ctx))

	want := beverage{MessageID: 44402065, Type: "coffee", Note: strings.Repeat("with milk, ", 300)}
	require.NoError(t, a.Send(ctx, socketscience.Payload{"beverage": want}))
	select {
	case v := <-got:
		assert.Equal(t, want, v)
	case <-time.After(waitLimit):
		t.Fatal("the payload did not arrive")
	}
	msgs := srv.Messages(room.ID)
	require.Len(t, msgs, 1)
	assert.Greater(t, len(msgs[0].Text), sechattest.DefaultPartialThreshold)
	assert.True(t, strings.HasPrefix(msgs[0].Text, ".\n\u0002"), "SmokeDetector's frame format")

	// Both sockets die; each gateway notices and dials again, with
	// backoff, on the shared session.
	srv.KillSockets(0)
	require.Eventually(t, func() bool {
		return a.Stats().Reconnects >= 1 && b.Stats().Reconnects >= 1 && a.Health().Connected && b.Health().Connected
	}, waitLimit, time.Millisecond)
	again := beverage{MessageID: 44402066, Type: "tea"}
	require.NoError(t, a.Send(ctx, socketscience.Payload{"beverage": again}))
	select {
	case v := <-got:
		assert.Equal(t, again, v)
	case <-time.After(waitLimit):
		t.Fatal("the payload sent after the reconnect did not arrive")
	}

	// Now kill the sockets and send at once, racing the reconnects: the
	// post may land while b is down (b's new socket resumes where the old
	// one stopped and gets it replayed), or land unconfirmed and be posted
	// again by a's gateway (SE's duplicate refusal then counts as done).
	srv.KillSockets(0)
	third := beverage{MessageID: 44402067, Type: "water"}
	require.NoError(t, a.Send(ctx, socketscience.Payload{"beverage": third}))
	select {
	case v := <-got:
		assert.Equal(t, third, v)
	case <-time.After(waitLimit):
		t.Fatal("the payload sent across the reconnect did not arrive")
	}
	require.NoError(t, a.Flush(ctx))
	assert.Empty(t, got, "delivered once")
}
