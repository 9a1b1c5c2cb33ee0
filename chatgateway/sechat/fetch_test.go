package sechat_test

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway/sechat"
	"github.com/socketscience/socketscience/messages"
)

// A person's message is read from the socket's content, without a GET:
// the text keeps its words and line breaks, not its markup.
func TestPersonsMessageNeedsNoFetch(t *testing.T) {
	f := newFixture(t)
	ch := reader(t, f.dial(t))
	for _, c := range []struct{ said, read string }{
		{"fish & chips <3 \"quoted\" it's fine", "fish & chips <3 \"quoted\" it's fine"},
		{"first line\nsecond line", "first line\nsecond line"},
		{"    go run .\n    echo done", "go run .\necho done"},
		{". a sentence starting with a dot", ". a sentence starting with a dot"},
	} {
		_, err := f.srv.Say(f.room.ID, f.human.ID, c.said)
		require.NoError(t, err)
		m := nextMsg(t, ch)
		assert.Equal(t, c.read, m.Text)
		assert.Equal(t, messages.KindChat, messages.Classify(m.Text))
	}
	assert.Zero(t, f.srv.Requests("/message/"), "no plain-source GET for a person's chat")
}

// Whatever may be a frame is fetched, from anyone: a frame, a fragment, a
// message cut short, a lone "." line; and everything from the account
// itself, a trusted account, or with ExactChatText.
func TestWhatMayBeAFrameIsFetched(t *testing.T) {
	frame := ".\n\x022201gaRwaW5ngqhsb2NhdGlvbqtIZW5kZXJzL0VDMqR0aW1ly0HWseSrkAAA\x03"
	long := "a person's long message " + strings.Repeat("word ", 120)
	for _, c := range []struct {
		name string
		edit func(*sechat.Config)
		from func(f *fixture) int64
		text string
	}{
		{"a frame from a stranger", nil, func(f *fixture) int64 { return f.human.ID }, frame},
		{"a fragment", nil, func(f *fixture) int64 { return f.human.ID }, ".\n\x0f1:2:abcdefgh:Zm9v"},
		{"cut short", nil, func(f *fixture) int64 { return f.human.ID }, long},
		{"a lone dot", nil, func(f *fixture) int64 { return f.human.ID }, ".\nhello"},
		{"the account's own chat", nil, func(f *fixture) int64 { return f.bot.ID }, "hello from the bot's account"},
		{"a trusted account", nil, func(f *fixture) int64 { return f.human.ID }, "hello"},
		{"ExactChatText", exactChatText, func(f *fixture) int64 { return f.human.ID }, "**bold**"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			var edits []func(*sechat.Config)
			if c.edit != nil {
				edits = append(edits, c.edit)
			}
			if c.name == "a trusted account" {
				edits = append(edits, func(cfg *sechat.Config) { cfg.TrustedUsers = []int64{f.human.ID} })
			}
			ch := reader(t, f.dial(t, edits...))
			id, err := f.srv.Say(f.room.ID, c.from(f), c.text)
			require.NoError(t, err)
			assert.Equal(t, c.text, nextMsg(t, ch).Text, "exactly as typed")
			assert.Equal(t, 1, f.srv.RequestsTo("/message/"+strconv.FormatInt(id, 10)))
		})
	}
}

// The echo of an own post is what Post sent, without a GET, even though
// the server pushes it to the socket before it answers the post.
func TestOwnEchoNeedsNoFetch(t *testing.T) {
	f := newFixture(t)
	conn := f.dial(t)
	ch := reader(t, conn)
	for i := range 20 {
		text := ".\n\x02" + strconv.Itoa(1000+i) + "gaRwaW5n\x03"
		_, err := conn.Post(context.Background(), text)
		require.NoError(t, err)
		assert.Equal(t, text, nextMsg(t, ch).Text)
	}
	assert.Zero(t, f.srv.Requests("/message/"))
}

// Fetches run several at once, and messages still come out in order: a
// slow first fetch does not hold back the others' requests.
func TestFetchesArePipelinedInOrder(t *testing.T) {
	h := newHostile(t)
	var first atomic.Bool
	release := holdFetches(h, func(r *http.Request) bool {
		return r.PathValue("id") == "1" && first.CompareAndSwap(false, true)
	})
	ch := reader(t, h.dial(t))
	for i := range 5 {
		h.sayHuman("message " + strconv.Itoa(i))
	}
	require.Eventually(t, func() bool { return h.requests(routePlain) == 5 }, waitLimit, time.Millisecond,
		"all five fetched while the first hangs")
	assert.Empty(t, ch)
	close(release)
	inOrder(t, ch, 5)
}

// holdFetches makes the plain-source fetches that hold picks wait until
// the returned channel is closed (or the client gives up); then, and for
// the others at once, the server answers normally.
func holdFetches(h *hostile, hold func(*http.Request) bool) chan struct{} {
	release := make(chan struct{})
	h.on(routePlain, func(_ http.ResponseWriter, r *http.Request, _ int) bool {
		if hold(r) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		return false
	})
	return release
}

// inOrder checks that the next n messages are "message 0", "message 1", …
func inOrder(t *testing.T, ch <-chan readResult, n int) {
	t.Helper()
	for i := range n {
		assert.Equal(t, "message "+strconv.Itoa(i), nextMsg(t, ch).Text)
	}
}

func holdAll(*http.Request) bool { return true }

// At most 8 fetches run at once: the ninth waits for a slot.
func TestAtMostEightFetchesAtOnce(t *testing.T) {
	h := newHostile(t)
	release := holdFetches(h, holdAll)
	ch := reader(t, h.dial(t))
	for i := range 12 {
		h.sayHuman("message " + strconv.Itoa(i))
	}
	require.Eventually(t, func() bool { return h.requests(routePlain) == 8 }, waitLimit, time.Millisecond)
	require.Never(t, func() bool { return h.requests(routePlain) > 8 }, 50*time.Millisecond, time.Millisecond)
	close(release)
	inOrder(t, ch, 12)
}

// A person's message deleted while the socket was down is replayed with
// its content (no fetch, so no 404 to tell it was deleted), as the docs
// say; with ExactChatText it is skipped (TestReadSkipsDeletedMessage).
func TestDeletedPersonsMessageReplayedFromContent(t *testing.T) {
	f := newFixture(t)
	ch, _ := replayAfterDelete(t, f)
	assert.Equal(t, "regrettable", nextMsg(t, ch).Text)
	assert.Equal(t, "kept", nextMsg(t, ch).Text)
	assert.Zero(t, f.srv.Requests("/message/"))
}

// A message alone in the queue is fetched on Read's goroutine; messages
// that arrive while that fetch hangs still have theirs started at once
// (the socket's reader starts them), and come out in order.
func TestFetchesStartWhileALoneFetchHangs(t *testing.T) {
	h := newHostile(t)
	release := holdFetches(h, func(r *http.Request) bool { return r.PathValue("id") == "1" })
	ch := reader(t, h.dial(t))
	h.sayHuman("message 0")
	require.Eventually(t, func() bool { return h.requests(routePlain) == 1 }, waitLimit, time.Millisecond)
	for i := 1; i < 4; i++ {
		h.sayHuman("message " + strconv.Itoa(i))
	}
	require.Eventually(t, func() bool { return h.requests(routePlain) == 4 }, waitLimit, time.Millisecond,
		"the later three fetched while the first hangs")
	assert.Empty(t, ch)
	close(release)
	inOrder(t, ch, 4)
}

// After a burst of fetches, at most two fetcher goroutines stay, idle,
// for the next ones; Close ends them.
func TestFetchersAfterABurst(t *testing.T) {
	h := newHostile(t)
	release := holdFetches(h, holdAll)
	conn := h.dial(t)
	ch := reader(t, conn)
	for i := range 12 {
		h.sayHuman("message " + strconv.Itoa(i))
	}
	require.Eventually(t, func() bool { return h.requests(routePlain) == 8 }, waitLimit, time.Millisecond)
	assert.GreaterOrEqual(t, fetchers(), 7, "the first may be fetched by Read")
	close(release)
	inOrder(t, ch, 12)
	require.Eventually(t, func() bool { return fetchers() <= 2 }, waitLimit, time.Millisecond)
	require.NoError(t, conn.Close())
	assert.Zero(t, fetchers())
}

// fetchers counts the goroutines running a conn's fetcher.
func fetchers() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "sechat.(*conn).fetcher(")
}
