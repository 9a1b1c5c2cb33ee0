package test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway/gateway"
	"github.com/socketscience/socketscience/chatgateway/sechat"
	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The chaos test's shape. Each sender sends chaosPayloads payloads, one
// every chaosSendEvery, so sending takes about chaosPayloads*chaosSendEvery;
// chaos runs for that long, then stops.
const (
	chaosNodes     = 3
	chaosPayloads  = 1000
	chaosSendEvery = 8 * time.Millisecond
	// chaosDeadline bounds the whole test: sending, flushing, delivery. A
	// run takes 10-20 s; on a machine loaded with other test runs, up to a
	// minute was seen.
	chaosDeadline = 90 * time.Second
	// The local server's keep-alive period and the adapter's liveness
	// timeout: a silent socket is noticed within a few hundred ms.
	chaosKeepAlive = 50 * time.Millisecond
	chaosLiveness  = 400 * time.Millisecond
	// chaosSilence is how long a Silence lasts: longer than the liveness
	// timeout, so that the adapter notices it.
	chaosSilence = 600 * time.Millisecond
	// chaosRefresh is how often the adapter rebuilds even a healthy socket.
	chaosRefresh = 2 * time.Second
)

// chaosTypes are the message types; payload n of every sender carries
// chaosTypesOf(n).
var chaosTypes = []string{"alpha", "beta", "gamma", "delta"}

// chaosTypesOf is the types payload n carries: one or two of chaosTypes,
// cycling, so that queued payloads sometimes coalesce and sometimes collide.
func chaosTypesOf(n int) []string {
	ts := []string{chaosTypes[n%len(chaosTypes)]}
	if n%3 == 0 {
		ts = append(ts, chaosTypes[(n+2)%len(chaosTypes)])
	}
	return ts
}

// chaosItem is each type's data: who sent it and the sender's sequence
// number. Pad makes some frames long (delta only).
type chaosItem struct {
	From int    `json:"from"`
	N    int    `json:"n"`
	Pad  string `json:"pad,omitempty"`
}

// chaosSeed is CHAOS_SEED if set, else time-based.
func chaosSeed(t *testing.T) uint64 {
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "CHAOS_SEED must be an unsigned integer")
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// chaosRand is a seeded source in [0,1) safe for concurrent use, for the
// nodes' backoff jitter.
func chaosRand(seed uint64) func() float64 {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		return r.Float64()
	}
}

// chaosLog keeps the last lines logged to it, to print when the test fails.
type chaosLog struct {
	mu    sync.Mutex
	lines []string
	max   int
}

func (l *chaosLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(bytes.TrimSpace(p)))
	if len(l.lines) > l.max {
		l.lines = l.lines[len(l.lines)-l.max:]
	}
	return len(p), nil
}

func (l *chaosLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// chaosInbox is what one receiving node's handlers got: per sender and per
// type, the sequence numbers in the order they were handled.
type chaosInbox struct {
	mu    sync.Mutex
	got   [chaosNodes]map[string][]int
	total atomic.Int64
	bad   []string // data that did not decode, or came from nowhere
}

func newChaosInbox() *chaosInbox {
	b := &chaosInbox{}
	for i := range b.got {
		b.got[i] = make(map[string][]int)
	}
	return b
}

func (b *chaosInbox) add(typ string, v chaosItem) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if v.From < 0 || v.From >= chaosNodes {
		b.bad = append(b.bad, fmt.Sprintf("%s %+v", typ, v))
		return
	}
	b.got[v.From][typ] = append(b.got[v.From][typ], v.N)
	b.total.Add(1)
}

func (b *chaosInbox) list(from int, typ string) []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got[from][typ])
}

// chaosWant is the sequence numbers of one sender's payloads that carry
// typ, in order.
func chaosWant(typ string) []int {
	var want []int
	for n := range chaosPayloads {
		if slices.Contains(chaosTypesOf(n), typ) {
			want = append(want, n)
		}
	}
	return want
}

// chaosDiff explains how got differs from want (both of one sender and
// type): duplicates, missing numbers, and the first one out of order. It
// returns "" when they are equal.
func chaosDiff(got, want []int) string {
	if slices.Equal(got, want) {
		return ""
	}
	count := make(map[int]int, len(got))
	var dups []int
	for _, n := range got {
		count[n]++
		if count[n] == 2 {
			dups = append(dups, n)
		}
	}
	var missing []int
	for _, n := range want {
		if count[n] == 0 {
			missing = append(missing, n)
		}
	}
	outOfOrder := -1
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			outOfOrder = i
			break
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "got %d, want %d", len(got), len(want))
	if len(dups) > 0 {
		fmt.Fprintf(&b, "; %d duplicated: %v", len(dups), chaosHead(dups, 20))
	}
	if len(missing) > 0 {
		fmt.Fprintf(&b, "; %d missing: %v", len(missing), chaosHead(missing, 20))
	}
	if outOfOrder >= 0 {
		fmt.Fprintf(&b, "; first out of order at index %d: %v", outOfOrder, got[max(0, outOfOrder-3):min(len(got), outOfOrder+3)])
	}
	return b.String()
}

func chaosHead(s []int, n int) []int { return s[:min(n, len(s))] }

// chaosMonkey injects faults into the local server at seeded random
// moments.
type chaosMonkey struct {
	srv    *sechattest.Server
	faults map[string]bool // the faults to inject, by name
	bot    int64
	rng    *rand.Rand
	start  time.Time

	mu     sync.Mutex
	log    []string
	counts map[string]int
}

func (c *chaosMonkey) note(action string, format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[action]++
	c.log = append(c.log, fmt.Sprintf("%7.3fs %s %s", time.Since(c.start).Seconds(), action, fmt.Sprintf(format, args...)))
}

func (c *chaosMonkey) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.counts))
	for k := range c.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c.counts[k]))
	}
	return strings.Join(parts, " ")
}

func (c *chaosMonkey) schedule() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.log, "\n")
}

// chaosFaults are the faults the chaos monkey injects, with the share of
// its rolls (out of 100) that each gets.
var chaosFaults = []struct {
	name  string
	share int
}{{"kill", 30}, {"silence", 15}, {"throttle", 20}, {"reject", 20}, {"delay", 15}}

func chaosFaultOf(roll int) string {
	for _, f := range chaosFaults {
		if roll < f.share {
			return f.name
		}
		roll -= f.share
	}
	panic("chaosFaults' shares must add up to 100")
}

// chaosFaultSet is CHAOS_FAULTS (names separated by commas) if set, else
// every fault. Leaving faults out narrows a failure down: for one seed, the
// faults that stay come in the same order (at other moments, as silences
// and delays left out take no time).
func chaosFaultSet(t *testing.T) map[string]bool {
	set := make(map[string]bool)
	env := os.Getenv("CHAOS_FAULTS")
	for _, f := range chaosFaults {
		set[f.name] = env == ""
	}
	if env == "" {
		return set
	}
	for name := range strings.SplitSeq(env, ",") {
		name = strings.TrimSpace(name)
		_, ok := set[name]
		require.True(t, ok, "CHAOS_FAULTS: unknown fault %q", name)
		set[name] = true
	}
	return set
}

// chaosPause waits d unless stop closes first; it reports whether it waited.
func chaosPause(stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

// run injects faults until stop is closed: first each fault once, in a
// seeded order (even if stop closes meanwhile), so that no run misses one,
// then faults drawn at random. When it returns, the server is silent and
// delayed no more; ThrottleNext and RejectPosts still armed are left for
// the next posts (at most three 409s and one 500).
func (c *chaosMonkey) run(stop <-chan struct{}) {
	defer func() {
		c.srv.Silence(false)
		c.srv.DelayFrames(0)
	}()
	first := make([]string, len(chaosFaults))
	for i, f := range chaosFaults {
		first[i] = f.name
	}
	c.rng.Shuffle(len(first), func(i, j int) { first[i], first[j] = first[j], first[i] })
	for i := 0; ; i++ {
		until := stop
		if i < len(first) {
			until = nil // never closes: the first pass runs in full
		}
		if !chaosPause(until, time.Duration(100+c.rng.IntN(400))*time.Millisecond) {
			return
		}
		// Drawn whether or not the fault is on, so that CHAOS_FAULTS does
		// not change which faults the others are.
		fault, param := chaosFaultOf(c.rng.IntN(100)), c.rng.IntN(1<<20)
		if i < len(first) {
			fault = first[i]
		}
		if c.faults[fault] {
			c.inject(fault, param, until)
		}
	}
}

// inject injects fault, its details (whose sockets, how many 409s, how
// long a delay) drawn from param.
func (c *chaosMonkey) inject(fault string, param int, stop <-chan struct{}) {
	switch fault {
	case "kill":
		who := int64(0)
		if param%2 == 1 {
			who = c.bot
		}
		c.note("kill", "sockets of user %d (0: all)", who)
		c.srv.KillSockets(who)
	case "silence":
		c.note("silence", "for %s", chaosSilence)
		c.srv.Silence(true)
		chaosPause(stop, chaosSilence)
		c.srv.Silence(false)
	case "throttle":
		n := 1 + param%3
		c.note("throttle", "next %d posts, 1 s", n)
		c.srv.ThrottleNext(n, 1)
	case "reject":
		c.note("reject", "next post with 500")
		c.srv.RejectPosts(1, http.StatusInternalServerError, "oops")
	case "delay":
		d := time.Duration(20+param%180) * time.Millisecond
		c.note("delay", "frames by %s for 300ms", d)
		c.srv.DelayFrames(d)
		chaosPause(stop, 300*time.Millisecond)
		c.srv.DelayFrames(0)
	}
}

// Three nodes on the shared bot account each send 1000 payloads of several
// types over the local Stack Exchange chat server, while the server, at
// seeded random moments, kills sockets, goes silent, delays frames,
// throttles posts with 409s and fails them with 500s. Every payload reaches
// every other node's handlers exactly once, in each sender's order; nothing
// is left queued; every node closes cleanly (and TestMain checks for leaked
// goroutines). CHAOS_SEED=<n> replays a run's faults (not its exact
// timing); CHAOS_FAULTS=kill,silence,throttle,reject,delay picks which
// faults to inject (default: all).
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: about 20 s")
	}
	seed := chaosSeed(t)
	t.Logf("chaos seed %d (replay with CHAOS_SEED=%d)", seed, seed)
	logs := &chaosLog{max: 300}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last log lines of nodes and adapters:\n%s", logs)
			t.Logf("FAILED with chaos seed %d: replay with CHAOS_SEED=%d go test -race -run TestChaos ./test/", seed, seed)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), chaosDeadline)
	defer cancel()
	began := time.Now()

	r := newSERoom(t, sechattest.WithKeepAlive(chaosKeepAlive))
	logger := zerolog.New(zerolog.SyncWriter(logs)).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	policy := gateway.DefaultReconnectPolicy()
	policy.Backoff.Initial, policy.Backoff.Max = 5*time.Millisecond, 100*time.Millisecond

	nodes := make([]*socketscience.Node, chaosNodes)
	inboxes := make([]*chaosInbox, chaosNodes)
	for i := range nodes {
		nodeLog := logger.With().Int("node", i).Logger()
		client, err := sechat.NewClient(sechat.Config{
			BaseURL: r.srv.URL, Email: "smokey@example.com", Password: "secret",
			Logger:          &nodeLog,
			LivenessTimeout: chaosLiveness,
			// Healthy sockets are rebuilt too, now and then.
			RefreshInterval: chaosRefresh,
		})
		require.NoError(t, err)
		n, err := socketscience.New(client.Room(r.room.ID),
			socketscience.WithNodeID(fmt.Sprintf("chaos%d", i)),
			socketscience.WithLogger(nodeLog),
			socketscience.WithReconnectPolicy(policy),
			socketscience.WithRand(chaosRand(seed+uint64(i))),
			socketscience.WithQueueSize(3000),
			// The checks count what each node's peers sent.
			socketscience.WithoutSelfDelivery(),
		)
		require.NoError(t, err)
		t.Cleanup(func() { closeNodes(t, n) })
		nodes[i], inboxes[i] = n, newChaosInbox()
		for _, typ := range chaosTypes {
			_, err := socketscience.Handle(n, typ, func(ctx context.Context, v chaosItem) error {
				inboxes[i].add(typ, v)
				return nil
			})
			require.NoError(t, err)
		}
	}
	// Every node must be in the room before anyone sends: a node's first
	// socket reads only what is posted after it opened.
	for i, n := range nodes {
		require.NoError(t, n.WaitConnected(ctx), "node %d", i)
	}

	monkey := &chaosMonkey{srv: r.srv, faults: chaosFaultSet(t), bot: r.bot.ID, rng: rand.New(rand.NewPCG(seed, 0xc4a05)), start: time.Now(), counts: map[string]int{}}
	stopChaos := make(chan struct{})
	var chaosDone sync.WaitGroup
	chaosDone.Go(func() { monkey.run(stopChaos) })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos schedule:\n%s", monkey.schedule())
		}
	})

	var senders sync.WaitGroup
	sendErrs := make([]error, chaosNodes)
	sendTime := make([]time.Duration, chaosNodes) // in Send, per sender
	slowest := make([]time.Duration, chaosNodes)  // the slowest Send, per sender
	for i, n := range nodes {
		padRNG := rand.New(rand.NewPCG(seed, uint64(i)))
		senders.Go(func() {
			// Payload k is due chaosSendEvery*k after the start; a sender
			// woken late (a loaded machine) catches up at once, so that
			// sending takes about as long, and the chaos as many faults,
			// however busy the machine is.
			start := time.Now()
			tick := time.NewTicker(chaosSendEvery)
			defer tick.Stop()
			for k := range chaosPayloads {
				for time.Since(start) < chaosSendEvery*time.Duration(k) {
					select {
					case <-tick.C:
					case <-ctx.Done():
						sendErrs[i] = fmt.Errorf("payload %d: %w", k, ctx.Err())
						return
					}
				}
				p := socketscience.Payload{}
				for _, typ := range chaosTypesOf(k) {
					item := chaosItem{From: i, N: k}
					if typ == "delta" {
						item.Pad = strings.Repeat("x", padRNG.IntN(2000))
					}
					p[typ] = item
				}
				t0 := time.Now()
				err := n.Send(ctx, p)
				took := time.Since(t0)
				sendTime[i] += took
				slowest[i] = max(slowest[i], took)
				if err != nil {
					sendErrs[i] = fmt.Errorf("payload %d: %w", k, err)
					return
				}
			}
		})
	}
	senders.Wait()
	close(stopChaos)
	chaosDone.Wait()
	sent := time.Since(began)
	for i, err := range sendErrs {
		require.NoError(t, err, "node %d's sends", i)
	}
	t.Logf("sending done at %s; chaos: %s", sent.Round(time.Millisecond), monkey.summary())
	for i := range nodes {
		t.Logf("node %d: %s in Send, slowest %s", i, sendTime[i].Round(time.Millisecond), slowest[i].Round(time.Microsecond))
	}

	for i, n := range nodes {
		flushCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		t0 := time.Now()
		err := n.Flush(flushCtx)
		cancel()
		require.NoError(t, err, "flushing node %d (health %+v)", i, n.Health())
		t.Logf("node %d flushed in %s", i, time.Since(t0).Round(time.Millisecond))
	}
	flushed := time.Since(began)

	// What each receiver must handle: every other sender's payloads, each
	// type of each.
	wantPerSender := 0
	for n := range chaosPayloads {
		wantPerSender += len(chaosTypesOf(n))
	}
	wantTotal := int64(wantPerSender * (chaosNodes - 1))
	delivered := chaosWaitDelivered(ctx, inboxes, wantTotal, 10*time.Second)
	if !delivered {
		t.Errorf("not every payload was handled, and none more for 10 s")
		for i, b := range inboxes {
			t.Logf("node %d handled %d of %d; health %+v", i, b.total.Load(), wantTotal, nodes[i].Health())
		}
	}
	doneAt := time.Since(began)

	for i, n := range nodes {
		assert.Zero(t, n.Health().Queued, "node %d's queue", i)
	}
	// Close drains the handlers, so whatever was already routed (a late
	// duplicate, say) is in the inboxes before they are compared.
	closeCtx, cancelClose := context.WithTimeout(context.Background(), wait)
	defer cancelClose()
	for i, n := range nodes {
		assert.NoError(t, n.Close(closeCtx), "closing node %d", i)
	}

	var total socketscience.Stats
	for i, n := range nodes {
		s := n.Stats()
		t.Logf("node %d: sent %d posted %d post_failures %d reconnects %d frames %d own %d duplicates %d delivered %d unhandled %d handler_errors %d dropped %v",
			i, s.Sent, s.Posted, s.PostFailures, s.Reconnects, s.Frames, s.OwnFrames, s.Duplicates, s.Delivered, s.Unhandled, s.HandlerErrors, s.Dropped)
		assert.Equal(t, int64(chaosPayloads), s.Sent, "node %d sent", i)
		assert.Zero(t, s.HandlerErrors, "node %d: data that did not decode", i)
		for reason, count := range s.Dropped {
			// A post repeated after an unknown outcome that SE refuses as a
			// duplicate is dropped as rejected when the adapter cannot tell
			// that the first one landed (another node posted meanwhile);
			// whether it was lost, the delivery check below tells.
			if reason != "rejected" {
				assert.Zero(t, count, "node %d dropped %s", i, reason)
			}
		}
		total.Reconnects += s.Reconnects
		total.PostFailures += s.PostFailures
	}
	t.Logf("server: %d posts stored; timings: sending %s, flushed at %s, delivered at %s",
		r.srv.Posts(), sent.Round(time.Millisecond), flushed.Round(time.Millisecond), doneAt.Round(time.Millisecond))
	// The chaos did happen and the nodes noticed: every fault is injected
	// at least once (see run). Reconnects also count the sockets rebuilt
	// every chaosRefresh; PostFailures come only from faults.
	if monkey.faults["kill"] || monkey.faults["silence"] {
		assert.Positive(t, total.Reconnects, "the chaos made nodes reconnect")
	}
	if monkey.faults["reject"] {
		assert.Positive(t, total.PostFailures, "the chaos failed posts")
	}

	for to, b := range inboxes {
		b.mu.Lock()
		assert.Empty(t, b.bad, "node %d got data from no sender", to)
		b.mu.Unlock()
		for from := range chaosNodes {
			for _, typ := range chaosTypes {
				got := b.list(from, typ)
				if from == to {
					assert.Empty(t, got, "node %d handled its own %s payloads", to, typ)
					continue
				}
				if diff := chaosDiff(got, chaosWant(typ)); diff != "" {
					t.Errorf("node %d's %s payloads from node %d: %s", to, typ, from, diff)
				}
			}
		}
	}
}

// chaosWaitDelivered waits until every inbox holds want payloads. It gives up
// when none has grown for stall, or ctx ends.
func chaosWaitDelivered(ctx context.Context, inboxes []*chaosInbox, want int64, stall time.Duration) bool {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var last int64
	progressed := time.Now()
	for {
		var sum int64
		done := true
		for _, b := range inboxes {
			n := b.total.Load()
			sum += n
			done = done && n >= want
		}
		if done {
			return true
		}
		if sum != last {
			last, progressed = sum, time.Now()
		}
		if time.Since(progressed) > stall {
			return false
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
	}
}
