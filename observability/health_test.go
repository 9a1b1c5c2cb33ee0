package observability_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/observability"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// probe asks h for path and decodes the report.
func probe(t *testing.T, h http.Handler, path string) (int, observability.HealthReport) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	var rep observability.HealthReport
	if w.Code != http.StatusNotFound {
		assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &rep), w.Body.String())
	}
	return w.Code, rep
}

// The probes follow a node as it connects, fails for good and closes.
func TestHealthHandlerFollowsANode(t *testing.T) {
	room := memchat.NewRoom(memchat.WithName("lobby"))
	member := room.Member(bot, "a")
	member.FailDials(1_000_000, errors.New("server down"))
	n := newNode(t, member, socketscience.WithNodeID("a"), fastRedial())
	h := observability.HealthHandler(n)

	code, rep := probe(t, h, "/healthz")
	assert.Equal(t, http.StatusOK, code, "running, though not connected")
	assert.Equal(t, observability.StatusOK, rep.Status)
	code, rep = probe(t, h, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	require.Len(t, rep.Nodes, 1)
	assert.Equal(t, observability.NodeHealth{Node: "a", Reason: "not connected", Since: rep.Nodes[0].Since, Error: rep.Nodes[0].Error},
		rep.Nodes[0])

	member.FailDials(0, nil)
	waitConnected(t, n)
	code, rep = probe(t, h, "/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, observability.HealthReport{Status: observability.StatusOK, Nodes: []observability.NodeHealth{
		{Node: "a", Room: "lobby", OK: true, Connected: true, Since: rep.Nodes[0].Since}}}, rep)

	// The server now refuses the account for good.
	member.FailDials(1, chatgateway.Permanent(errors.New("bad password")))
	member.Break(errors.New("socket killed"))
	require.Eventually(t, func() bool { return n.Health().Stopped }, wait, time.Millisecond)
	code, rep = probe(t, h, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, observability.StatusUnavailable, rep.Status)
	assert.Equal(t, "stopped: the connection failed for good", rep.Nodes[0].Reason)
	assert.Contains(t, rep.Nodes[0].Error, "bad password")
	assert.True(t, rep.Nodes[0].Stopped)
	code, _ = probe(t, h, "/healthz")
	assert.Equal(t, http.StatusOK, code, "failed for good is still running: a restart would not help")

	require.NoError(t, n.Close(context.Background()))
	for _, path := range []string{"/healthz", "/readyz"} {
		code, rep = probe(t, h, path)
		assert.Equal(t, http.StatusServiceUnavailable, code, path)
		assert.Equal(t, "closed", rep.Nodes[0].Reason, path)
		assert.True(t, rep.Nodes[0].Closed, path)
	}
	code, _ = probe(t, h, "/metrics")
	assert.Equal(t, http.StatusNotFound, code)
}

// One failing node fails the probe; the healthy one is still listed.
// Mounted under a prefix, the handler goes by the path's last element.
func TestHealthHandlerManyNodes(t *testing.T) {
	room := memchat.NewRoom()
	up := newNode(t, room.Member(bot, "a"), socketscience.WithNodeID("up"))
	waitConnected(t, up)
	down := room.Member(bot, "b")
	down.FailDials(1_000_000, errors.New("server down"))
	n := newNode(t, down, socketscience.WithNodeID("down"))
	mux := http.NewServeMux()
	mux.Handle("/probe/", observability.HealthHandler(up, n))
	code, rep := probe(t, mux, "/probe/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	require.Len(t, rep.Nodes, 2)
	assert.True(t, rep.Nodes[0].OK)
	assert.False(t, rep.Nodes[1].OK)
	code, _ = probe(t, mux, "/probe/healthz")
	assert.Equal(t, http.StatusOK, code)
}

// A runtime with no open node fails both probes, saying so.
func TestRuntimeHealthHandler(t *testing.T) {
	rt, err := socketscience.NewRuntime()
	require.NoError(t, err)
	h := observability.RuntimeHealthHandler(rt)
	code, rep := probe(t, h, "/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "no open nodes", rep.Reason)
	assert.Empty(t, rep.Nodes)

	n, err := rt.NewNode(memchat.NewRoom().Member(bot, "a"))
	require.NoError(t, err)
	waitConnected(t, n)
	code, _ = probe(t, h, "/readyz")
	assert.Equal(t, http.StatusOK, code)
	require.NoError(t, rt.Close(context.Background()))
	code, _ = probe(t, h, "/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
}
