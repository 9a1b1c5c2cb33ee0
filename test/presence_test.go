package test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/ircws"
	"github.com/socketscience/socketscience/chatgateway/sechat"
	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
	"github.com/socketscience/socketscience/presence"
)

// errCut is what a cut-off node's posts and dials fail with.
var errCut = errors.New("test: cut off from the room")

// cutDialer is a Dialer that can be cut off from the room, as a partition
// would: while cut, dials fail and live connections' posts fail.
type cutDialer struct {
	chatgateway.Dialer
	cut atomic.Bool
}

func (d *cutDialer) Dial(ctx context.Context) (chatgateway.Conn, error) {
	if d.cut.Load() {
		return nil, errCut
	}
	c, err := d.Dialer.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return &cutConn{Conn: c, d: d}, nil
}

type cutConn struct {
	chatgateway.Conn
	d *cutDialer
}

func (c *cutConn) Post(ctx context.Context, text string) (int64, error) {
	if c.d.cut.Load() {
		return 0, errCut
	}
	return c.Conn.Post(ctx, text)
}

// election watches presences: each runs its work in WhileActive, and the
// watch records each role change at the instant it happened
// (RoleChange.At) and the most nodes that were ever active at once.
type election struct {
	t       *testing.T
	nodes   []*socketscience.Node
	pres    []*presence.Presence
	dialers []*cutDialer
	acting  atomic.Int32 // nodes running WhileActive's work
	mu      sync.Mutex
	terms   []span // every node's time as the active
	gained  []time.Time
	lost    []time.Time
	// actedAfterLoss counts work done by a node whose context said it had
	// lost: it must stay zero.
	actedAfterLoss atomic.Int32
	cancel         context.CancelFunc
	wg             sync.WaitGroup
}

func newElection(t *testing.T, timings presence.Timings, dialers []chatgateway.Dialer, opts ...socketscience.Option) *election {
	t.Helper()
	e := &election{t: t, gained: make([]time.Time, len(dialers)), lost: make([]time.Time, len(dialers))}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	for i, d := range dialers {
		cd := &cutDialer{Dialer: d}
		n, err := socketscience.New(cd, append([]socketscience.Option{socketscience.WithNodeID(fmt.Sprintf("node-%d", i)), fastReconnect()}, opts...)...)
		require.NoError(t, err)
		p, err := presence.New(n, presence.WithTimings(timings), presence.WithPriority(len(dialers)-i),
			presence.WithOnRoleChange(func(_ context.Context, c presence.RoleChange) {
				t.Logf("node-%d active=%t term=%d: %s", i, c.Active, c.Term, c.Reason)
				e.record(i, c)
			}))
		require.NoError(t, err)
		e.nodes, e.pres, e.dialers = append(e.nodes, n), append(e.pres, p), append(e.dialers, cd)
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			_ = p.WhileActive(ctx, func(actx context.Context) error {
				e.acting.Add(1)
				defer e.acting.Add(-1)
				tick := time.NewTicker(timings.Tick)
				defer tick.Stop()
				for {
					select {
					case <-actx.Done():
						return nil
					case <-tick.C:
						// The work an active does: never after its ctx said it lost.
						if !p.IsActive() && actx.Err() == nil {
							e.actedAfterLoss.Add(1)
						}
					}
				}
			})
		}()
	}
	t.Cleanup(e.close)
	return e
}

// span is one node's time as the active, from the instant it won to the
// instant it lost (zero while it still holds the role).
type span struct {
	node       int
	from, till time.Time
}

// record follows node i's role changes, each stamped with the instant it
// happened (RoleChange.At), reported in order per node.
func (e *election) record(i int, c presence.RoleChange) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.Active {
		e.gained[i] = c.At
		e.terms = append(e.terms, span{node: i, from: c.At})
		return
	}
	e.lost[i] = c.At
	for k := len(e.terms) - 1; k >= 0; k-- {
		if e.terms[k].node == i && e.terms[k].till.IsZero() {
			e.terms[k].till = c.At
			break
		}
	}
}

// overlaps reports two nodes' times as the active that intersect.
func (e *election) overlaps() []string {
	var out []string
	for i, a := range e.terms {
		for _, b := range e.terms[i+1:] {
			aEnd, bEnd := a.till, b.till
			if aEnd.IsZero() {
				aEnd = time.Now()
			}
			if bEnd.IsZero() {
				bEnd = time.Now()
			}
			if a.node != b.node && a.from.Before(bEnd) && b.from.Before(aEnd) {
				out = append(out, fmt.Sprintf("node-%d %v–%v and node-%d %v–%v", a.node, a.from, a.till, b.node, b.from, b.till))
			}
		}
	}
	return out
}

func (e *election) close() {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	e.cancel()
	for i, p := range e.pres {
		_ = p.Close(ctx)
		_ = e.nodes[i].Close(ctx)
	}
	e.wg.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	require.Empty(e.t, e.overlaps(), "two nodes were active at once")
	require.Zero(e.t, e.actedAfterLoss.Load(), "an active acted after presence said it had lost")
}

// active waits for exactly one active among the nodes not skipped.
func (e *election) active(within time.Duration, skip int) int {
	e.t.Helper()
	got := -1
	require.Eventually(e.t, func() bool {
		got = -1
		for i, p := range e.pres {
			if i != skip && p.IsActive() {
				if got >= 0 {
					return false
				}
				got = i
			}
		}
		return got >= 0
	}, within, 10*time.Millisecond, "no single active")
	return got
}

// partition cuts the active off and checks that another takes over only
// after the old one stopped acting, and that the old one, healed, stays a
// standby under the new term.
func (e *election) partition(within time.Duration) {
	e.t.Helper()
	a := e.active(within, -1)
	term := e.pres[a].Term()
	e.dialers[a].cut.Store(true)
	b := e.active(within, a)
	e.mu.Lock()
	lost, gained := e.lost[a], e.gained[b]
	e.mu.Unlock()
	require.False(e.t, lost.IsZero(), "the cut-off active never stopped")
	require.True(e.t, lost.Before(gained), "old active stopped at %v, new one started at %v", lost, gained)
	require.Greater(e.t, e.pres[b].Term(), term)
	e.dialers[a].cut.Store(false)
	require.Eventually(e.t, func() bool { return e.pres[a].Ready() && e.pres[a].Holder() == e.nodes[b].ID() },
		within, 20*time.Millisecond, "the healed node did not learn the new term")
	require.False(e.t, e.pres[a].IsActive())
	require.Equal(e.t, b, e.active(time.Second, -1))
}

// seTimings keep DefaultTimings' ratios on a scale a test can wait for.
// A 409 teaches the node's gateway to post at most once a second (relaxing
// over minutes), so renewals go out slower than that, and
// RenewDeadline - RenewInterval leaves 2.5 s for a throttled post.
func seTimings() presence.Timings {
	return presence.Timings{RenewInterval: 1500 * time.Millisecond, RenewDeadline: 4 * time.Second,
		LeaseDuration: 5 * time.Second, Grace: time.Second, ClaimStagger: 100 * time.Millisecond,
		StandbyInterval: 5 * time.Second, Tick: 20 * time.Millisecond}
}

// On Stack Exchange chat (the local server, over HTTP and WebSocket): 409
// throttling does not move the role; killed sockets and a silent server
// never make two actives; a partitioned active steps down before another
// starts; a crashed one is replaced.
func TestPresenceOverSEChat(t *testing.T) {
	r := newSERoom(t)
	var dialers []chatgateway.Dialer
	var ids []int64
	for i := range 3 {
		u := r.srv.AddUser(fmt.Sprintf("bot%d", i), fmt.Sprintf("bot%d@example.com", i), "secret")
		client, err := sechat.NewClient(sechat.Config{BaseURL: r.srv.URL, Email: u.Email, Password: u.Password})
		require.NoError(t, err)
		dialers, ids = append(dialers, client.Room(r.room.ID)), append(ids, u.ID)
	}
	e := newElection(t, seTimings(), dialers, socketscience.WithTrustedUsers(ids...))
	within := 30 * time.Second
	a := e.active(within, -1)
	term := e.pres[a].Term()

	// 409s, three times: a post waits a second each time (half the slack
	// RenewDeadline - RenewInterval leaves); the active keeps the role.
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for range 3 {
		r.srv.ThrottleNext(1, 1)
		posts := r.srv.Posts()
		_, err := r.srv.WaitFor(ctx, r.room.ID, func([]sechattest.Message) bool { return r.srv.Posts() >= posts+4 })
		require.NoError(t, err)
	}
	require.Equal(t, a, e.active(time.Second, -1))
	require.Equal(t, term, e.pres[a].Term())

	// Killed sockets (the active's too) and a silent server: never two.
	r.srv.KillSockets(0)
	e.active(within, -1)
	r.srv.Silence(true)
	require.Eventually(t, func() bool { return e.acting.Load() == 0 }, within, 10*time.Millisecond,
		"the active kept acting on a silent server")
	r.srv.Silence(false)
	e.active(within, -1)

	e.partition(within)

	// A crash: the active's node closes without a word. (A context of its
	// own: the steps above may have used up the first one's time.)
	a = e.active(within, -1)
	closeCtx, cancelClose := context.WithTimeout(context.Background(), within)
	defer cancelClose()
	require.NoError(t, e.nodes[a].Close(closeCtx))
	b := e.active(within, a)
	e.mu.Lock()
	defer e.mu.Unlock()
	require.True(t, e.lost[a].Before(e.gained[b]))
}

// On a real InspIRCd with FastTimings: a partitioned active steps down
// before another starts, and a crashed one is replaced within the bound.
func TestPresenceOverIRC(t *testing.T) {
	srv := startIRCd(t)
	nicks := []string{"pres-a", "pres-b", "pres-c"}
	var dialers []chatgateway.Dialer
	for _, nick := range nicks {
		d, err := ircws.NewDialer(ircws.Config{URL: srv.wsURL(), Channel: ircChannel, Nick: nick})
		require.NoError(t, err)
		dialers = append(dialers, d)
	}
	e := newElection(t, presence.FastTimings(), dialers, socketscience.WithTrustedAccounts(ircws.TrustedAccounts(1, nicks...)...))
	within := 60 * time.Second
	e.partition(within)

	a := e.active(within, -1)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	killed := time.Now()
	require.NoError(t, e.nodes[a].Close(ctx))
	b := e.active(within, a)
	tm := presence.FastTimings()
	took := time.Since(killed)
	t.Logf("failover on InspIRCd took %v", took)
	require.Less(t, took, tm.LeaseDuration+tm.Grace+tm.RenewInterval+2*time.Second)
	e.mu.Lock()
	defer e.mu.Unlock()
	require.True(t, e.lost[a].Before(e.gained[b]))
}
