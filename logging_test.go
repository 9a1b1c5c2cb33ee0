package socketscience_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/messages"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logLines is an io.Writer for a zerolog logger that keeps each JSON line;
// zerolog writes one event per Write, from any goroutine.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(l.buf.String()) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "not one JSON object per line: %q", line)
		out = append(out, m)
	}
	return out
}

// find returns the lines with message msg.
func (l *logLines) find(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range l.lines(t) {
		if m[zerolog.MessageFieldName] == msg {
			out = append(out, m)
		}
	}
	return out
}

// documentedFields reads the field names from the tables of docs/logging.md:
// a row's first cell of backquoted names, and the adapters' lists.
func documentedFields(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open("docs/logging.md")
	require.NoError(t, err)
	defer f.Close()
	names := regexp.MustCompile("`([a-z_]+)`")
	fields := map[string]bool{}
	inVocabulary := false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, "## ") {
			inVocabulary = line == "## Vocabulary"
			continue
		}
		if !inVocabulary || !strings.HasPrefix(line, "| ") {
			continue
		}
		cells := strings.Split(line, "|")
		cell := cells[1]
		if len(cells) == 4 { // | adapter | fields |
			cell = cells[2]
		}
		for _, m := range names.FindAllStringSubmatch(cell, -1) {
			fields[m[1]] = true
		}
	}
	require.NoError(t, s.Err())
	for _, want := range []string{"node", "room", "type", "reason", "attempt", "delay", "error", "level", "message"} {
		require.True(t, fields[want], "docs/logging.md does not list %q", want)
	}
	return fields
}

// Every line a node logs uses only the documented field names, carries the
// node, and from the first connection the room; drops carry their reason.
func TestLogVocabulary(t *testing.T) {
	vocabulary := documentedFields(t)
	var logs logLines
	logger := zerolog.New(&logs).Level(zerolog.DebugLevel)
	room := memchat.NewRoom(memchat.WithName("logged"))
	member := room.Member(bot, "a")
	n := connected(t, member, socketscience.WithNodeID("logs"), socketscience.WithLogger(logger))
	_, err := n.Register("fails", func(context.Context, socketscience.Message) error { return errors.New("no") })
	require.NoError(t, err)

	// A frame from an account the node does not trust, a handler error, a
	// broken connection and the reconnection, then Close.
	frame, err := messages.Encode(socketscience.Payload{"fails": 1})
	require.NoError(t, err)
	room.Say(chatgateway.Identity{UserID: 666, UserName: "stranger"}, frame)
	require.Eventually(t, func() bool { return len(logs.find(t, "dropped inbound frame")) == 1 }, wait, time.Millisecond)
	require.NoError(t, n.Send(context.Background(), socketscience.Payload{"fails": 2}))
	require.Eventually(t, func() bool { return len(logs.find(t, "handler returned an error")) == 1 }, wait, time.Millisecond)
	member.Break(errors.New("socket killed"))
	require.Eventually(t, func() bool { return len(logs.find(t, "connected")) == 2 }, wait, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, n.Close(ctx))

	lines := logs.lines(t)
	require.NotEmpty(t, lines)
	for _, m := range lines {
		for k := range m {
			assert.True(t, vocabulary[k], "field %q is not in docs/logging.md: %v", k, m)
		}
		assert.Equal(t, "logs", m["node"], "every line names the node: %v", m)
	}
	for _, msg := range []string{"connected", "dropped inbound frame", "handler returned an error", "disconnected", "closed"} {
		require.NotEmpty(t, logs.find(t, msg), "no %q line", msg)
	}
	for _, msg := range []string{"connected", "dropped inbound frame", "disconnected"} {
		for _, m := range logs.find(t, msg) {
			assert.Equal(t, "logged", m["room"], "a gateway line names the room: %v", m)
		}
	}
	drop := logs.find(t, "dropped inbound frame")[0]
	assert.Equal(t, string(socketscience.DropUntrusted), drop["reason"])
	assert.EqualValues(t, 666, drop["user_id"])
	assert.Equal(t, "stranger", drop["user"])
	failed := logs.find(t, "handler returned an error")[0]
	assert.Equal(t, "fails", failed["type"])
	assert.Equal(t, "no", failed["error"])
	down := logs.find(t, "disconnected")[0]
	assert.Contains(t, down["error"], "socket killed")
	assert.EqualValues(t, 1, down["attempt"])
	assert.Contains(t, down, "delay")
	levels := map[string]string{}
	for _, m := range lines {
		levels[m["message"].(string)] = m["level"].(string)
	}
	assert.Equal(t, map[string]string{"connected": "info", "dropped inbound frame": "warn", "handler returned an error": "warn",
		"disconnected": "warn", "closed": "info"}, filter(levels, "connected", "dropped inbound frame", "handler returned an error", "disconnected", "closed"))
}

func filter(m map[string]string, keys ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if slices.Contains(keys, k) {
			out[k] = v
		}
	}
	return out
}
