package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/internal/syncbuf"
)

// The demo serves /metrics, the probes and a live status page beside the
// room; the page's event stream follows payloads and a killed connection.
func TestStatusServer(t *testing.T) {
	in, typing := io.Pipe()
	out := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- run(ctx, testConfig(3, false), in, out) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, typing.Close())
	}()
	require.Eventually(t, func() bool { return strings.Count(out.String(), "*serves another coffee*") == 3 }, 10*time.Second, time.Millisecond, "the example acted out")
	statusURL := regexp.MustCompile(`Status: (http://\S+)/status/(\d+)\n`).FindStringSubmatch(out.String())
	require.NotNil(t, statusURL, out.String())
	base := statusURL[1]
	assert.Regexp(t, `Metrics: `+regexp.QuoteMeta(base)+`/metrics `, out.String())

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	get := func(path string) (int, string) {
		resp, err := client.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	// Handlers are observed once they return, just after their post.
	require.Eventually(t, func() bool {
		_, body := get("/metrics")
		return len(regexp.MustCompile(`socketscience_handled_total\{[^}]*type="beverage"\}`).FindAllString(body, -1)) == 3
	}, 10*time.Second, 5*time.Millisecond)
	code, metrics := get("/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, family := range []string{"socketscience_payloads_sent_total", "socketscience_handled_total", "socketscience_dropped_total",
		"socketscience_handler_duration_seconds", "socketscience_delivery_latency_seconds", "socketscience_connected"} {
		assert.Contains(t, metrics, "# TYPE "+family+" ", family)
	}
	assert.Regexp(t, `socketscience_handled_total\{node="[^"]+",room="[^"]+/rooms/1",type="beverage"\} 1\n`, metrics)
	for _, probe := range []string{"/healthz", "/readyz"} {
		code, body := get(probe)
		assert.Equal(t, http.StatusOK, code, body)
	}
	code, page := get("/status/" + statusURL[2])
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, "new EventSource(")
	code, _ = get("/status/999")
	assert.Equal(t, http.StatusNotFound, code)

	// The stream: one snapshot at once, then one per change.
	streamCtx, stopStream := context.WithCancel(context.Background())
	defer stopStream()
	req, err := http.NewRequestWithContext(streamCtx, http.MethodGet, base+"/status/"+statusURL[2]+"/events", nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := make(chan snapshot)
	go func() { // ends with the stream
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var s snapshot
			if json.Unmarshal([]byte(data), &s) != nil {
				return
			}
			select {
			case events <- s:
			case <-streamCtx.Done():
				return
			}
		}
	}()
	next := func() snapshot {
		select {
		case s, ok := <-events:
			require.True(t, ok, "the stream ended")
			return s
		case <-time.After(10 * time.Second):
			require.FailNow(t, "no event in 10s")
		}
		return snapshot{}
	}
	first := next()
	require.Len(t, first.Instances, 3)
	assert.Equal(t, "alpha", first.Instances[0].Name)
	actives := 0
	for _, i := range first.Instances {
		if i.Active {
			actives++
		}
	}
	assert.Equal(t, 1, actives, "one elected active instance")
	for _, i := range first.Instances {
		assert.Equal(t, "connected", i.State)
		assert.Equal(t, int64(1), i.Types["beverage"]["handled"])
	}
	assert.NotEmpty(t, first.Frames)

	_, err = io.WriteString(typing, "!!/tea\n")
	require.NoError(t, err)
	for s := next(); ; s = next() {
		all := true
		for _, i := range s.Instances {
			all = all && i.Types["beverage"]["handled"] == 2
		}
		if all {
			break
		}
	}

	// A killed socket shows as a disconnect, then a reconnect.
	killResp, err := client.Post(base+"/status/"+statusURL[2]+"/kill", "", nil)
	require.NoError(t, err)
	require.NoError(t, killResp.Body.Close())
	require.Equal(t, http.StatusNoContent, killResp.StatusCode)
	for s := next(); ; s = next() {
		all := true
		for _, i := range s.Instances {
			all = all && i.Disconnects >= 1 && i.Reconnects >= 1 && i.State == "connected"
		}
		if all {
			assert.Contains(t, strings.Join(s.Instances[1].Changes, "\n"), "disconnected")
			break
		}
	}
	stopStream()
	for range events {
	}
}
