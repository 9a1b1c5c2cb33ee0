package presence_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	socketscience "github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/presence"
)

// testTimings are fast enough for tests on the real clock and slow enough
// that -race on a loaded machine does not cause a failover by itself.
func testTimings() presence.Timings {
	return presence.Timings{RenewInterval: 200 * time.Millisecond, RenewDeadline: time.Second,
		LeaseDuration: 1300 * time.Millisecond, Grace: 200 * time.Millisecond, ClaimStagger: 50 * time.Millisecond,
		StandbyInterval: time.Second, Tick: 20 * time.Millisecond}
}

// cluster is n nodes with presence in one memchat room, all on one
// account as SmokeDetector's instances are, with a watch on the actives.
type cluster struct {
	t      *testing.T
	room   *memchat.Room
	rt     *socketscience.Runtime
	member []*memchat.Member
	nodes  []*socketscience.Node
	pres   []*presence.Presence
	// roles are the role changes, at the instant each happened (RoleChange.At);
	// gained[i] and lost[i] are when node i last became active and stopped.
	mu           sync.Mutex
	roles        []roleEvent
	gained, lost []time.Time
	// ran counts WhileActive's work starting.
	ran    atomic.Int32
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newCluster(t *testing.T, n int, opts ...presence.Option) *cluster {
	t.Helper()
	rt, err := socketscience.NewRuntime()
	require.NoError(t, err)
	c := &cluster{t: t, room: memchat.NewRoom(), rt: rt, gained: make([]time.Time, n), lost: make([]time.Time, n)}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	for i := range n {
		m := c.room.Member(chatgateway.Identity{UserID: 1, UserName: "smokey"}, fmt.Sprintf("n%d", i))
		node, err := rt.NewNode(m, socketscience.WithNodeID(fmt.Sprintf("n%d", i)))
		require.NoError(t, err)
		watch := presence.WithOnRoleChange(func(_ context.Context, rc presence.RoleChange) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.roles = append(c.roles, roleEvent{node: i, active: rc.Active, at: rc.At})
			if rc.Active {
				c.gained[i] = rc.At
			} else {
				c.lost[i] = rc.At
			}
		})
		all := append([]presence.Option{presence.WithTimings(testTimings()), presence.WithPriority(n - i)}, opts...)
		p, err := presence.New(node, append(all, watch)...)
		require.NoError(t, err)
		c.member, c.nodes, c.pres = append(c.member, m), append(c.nodes, node), append(c.pres, p)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			_ = p.WhileActive(ctx, func(actx context.Context) error {
				c.ran.Add(1)
				<-actx.Done()
				return nil
			})
		}()
	}
	t.Cleanup(c.close)
	return c
}

func (c *cluster) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.cancel()
	for _, p := range c.pres {
		_ = p.Close(ctx)
	}
	c.wg.Wait()
	require.NoError(c.t, c.rt.Close(ctx))
	c.mu.Lock()
	defer c.mu.Unlock()
	require.LessOrEqual(c.t, mostActive(c.roles), 1, "two nodes were active at once")
	require.Positive(c.t, c.ran.Load(), "WhileActive never ran its work")
}

// roleEvent is one node's role change at an instant.
type roleEvent struct {
	node   int
	active bool
	at     time.Time
}

// mostActive is the most nodes active at one instant: role changes in
// time order, a loss before a gain at the same instant.
func mostActive(evs []roleEvent) int {
	evs = slices.Clone(evs)
	slices.SortStableFunc(evs, func(a, b roleEvent) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		switch {
		case a.active == b.active:
			return 0
		case a.active:
			return 1
		}
		return -1
	})
	now, most := map[int]bool{}, 0
	for _, e := range evs {
		if e.active {
			now[e.node] = true
		} else {
			delete(now, e.node)
		}
		most = max(most, len(now))
	}
	return most
}

// active waits for exactly one active among the nodes not in skip, and
// returns it.
func (c *cluster) active(within time.Duration, skip ...int) int {
	c.t.Helper()
	got := -1
	require.Eventually(c.t, func() bool {
		got = -1
		for i, p := range c.pres {
			if p.IsActive() && !contains(skip, i) {
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

// waitPosts waits for the room to hold n posts.
func (c *cluster) waitPosts(n int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.room.WaitFor(ctx, func(e []memchat.Entry) bool { return len(e) >= n })
	require.NoError(c.t, err)
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestElectsOneAndKeepsIt(t *testing.T) {
	c := newCluster(t, 3)
	a := c.active(10 * time.Second)
	term := c.pres[a].Term()
	require.NotZero(t, term)
	// Leadership stays put while the active is healthy: over 20 more
	// renewals (and the standbys' heartbeats), nothing changes.
	c.waitPosts(len(c.room.Transcript()) + 30)
	require.Equal(t, a, c.active(time.Second))
	require.Equal(t, term, c.pres[a].Term())
	c.mu.Lock()
	for i := range c.pres {
		require.True(t, c.lost[i].IsZero(), "node %d lost the role", i)
	}
	c.mu.Unlock()
	for i, p := range c.pres {
		require.Equal(t, c.nodes[a].ID(), p.Holder(), "node %d's view", i)
		require.Len(t, p.Members(), 3)
	}
}

// A crashed active (its node closed without a word) is replaced within
// LeaseDuration + Grace + RenewInterval (plus scheduling slack), and the
// new active starts only after the old one's context was cancelled.
func TestFailoverWhenActiveDies(t *testing.T) {
	c := newCluster(t, 3)
	a := c.active(10 * time.Second)
	killed := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.nodes[a].Close(ctx))
	b := c.active(10*time.Second, a)
	took := time.Since(killed)
	tm := testTimings()
	require.Less(t, took, tm.LeaseDuration+tm.Grace+tm.RenewInterval+time.Second, "failover took %v", took)
	c.mu.Lock()
	defer c.mu.Unlock()
	require.False(t, c.lost[a].IsZero(), "the dead active never stopped acting")
	require.True(t, c.lost[a].Before(c.gained[b]), "old active lost at %v, new one gained at %v", c.lost[a], c.gained[b])
	require.Greater(t, c.pres[b].Term(), uint64(1))
}

// An active cut off from the room (its posts fail, its socket is broken
// and cannot be redialled) steps down by its own clock before anyone
// else takes over, and learns it lost before it could act again.
func TestPartitionedActiveStepsDownFirst(t *testing.T) {
	c := newCluster(t, 3)
	a := c.active(10 * time.Second)
	oldTerm := c.pres[a].Term()
	c.member[a].FailPosts(1<<30, nil)
	c.member[a].FailDials(1<<30, nil)
	c.member[a].Break(nil)
	b := c.active(10*time.Second, a)
	require.False(t, c.pres[a].IsActive())
	c.mu.Lock()
	lost, gained := c.lost[a], c.gained[b]
	c.mu.Unlock()
	require.False(t, lost.IsZero())
	require.True(t, lost.Before(gained), "old active lost at %v, new one gained at %v", lost, gained)
	require.Greater(t, c.pres[b].Term(), oldTerm)
	// Healed, the old active reads the new term and stays a standby.
	c.member[a].FailPosts(0, nil)
	c.member[a].FailDials(0, nil)
	require.Eventually(t, func() bool { return c.pres[a].Holder() == c.nodes[b].ID() && c.pres[a].Ready() },
		20*time.Second, 20*time.Millisecond)
	require.Equal(t, b, c.active(time.Second))
}

// Handover names the next active, which takes over at once; StepDown lets
// any standby take over without waiting for the lease; Force(ForceStandby)
// on the active does the same.
func TestHandoverStepDownForce(t *testing.T) {
	c := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := c.active(10 * time.Second)
	to := (a + 2) % 3 // not the next by priority
	start := time.Now()
	require.NoError(t, c.pres[a].Handover(ctx, c.nodes[to].ID()))
	require.False(t, c.pres[a].IsActive(), "Handover returns with the role given up")
	require.Equal(t, to, c.active(5*time.Second))
	require.Less(t, time.Since(start), testTimings().LeaseDuration, "a handover does not wait for the lease")

	require.ErrorIs(t, c.pres[a].StepDown(ctx), presence.ErrNotActive)
	require.ErrorIs(t, c.pres[to].Handover(ctx, "nobody"), presence.ErrUnknownMember)

	start = time.Now()
	require.NoError(t, c.pres[to].StepDown(ctx))
	next := c.active(5*time.Second, to)
	require.NotEqual(t, to, next)
	require.Less(t, time.Since(start), testTimings().LeaseDuration)

	require.NoError(t, c.pres[next].Force(ctx, presence.ForceStandby))
	last := c.active(5*time.Second, next)
	require.NotEqual(t, next, last)
	require.Eventually(t, func() bool {
		for _, m := range c.pres[last].Members() {
			if m.ID == c.nodes[next].ID() {
				return m.Role == presence.RoleObserver
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond)

	// Forced active: it asks the active to hand over, and gets the role
	// without waiting for a lease.
	start = time.Now()
	require.NoError(t, c.pres[next].Force(ctx, presence.ForceActive))
	require.Eventually(t, c.pres[next].IsActive, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, next, c.active(time.Second))
	require.Less(t, time.Since(start), testTimings().LeaseDuration)
	require.ErrorIs(t, c.pres[next].Force(ctx, "sideways"), presence.ErrInvalidOption)
}

// WhileActive's work context is done by the time IsActive says the role is
// gone (not a goroutine hop later), and it carries the caller's values.
func TestWhileActiveEndsWithTheRole(t *testing.T) {
	c := newCluster(t, 1)
	a := c.active(10 * time.Second)
	p := c.pres[a]
	type key struct{}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), key{}, "v"), 20*time.Second)
	defer cancel()
	works := make(chan context.Context, 1)
	done := make(chan error, 1)
	go func() {
		done <- p.WhileActive(ctx, func(wctx context.Context) error {
			works <- wctx
			<-wctx.Done()
			return nil
		})
	}()
	var wctx context.Context
	select {
	case wctx = <-works:
	case <-ctx.Done():
		t.Fatal("the work never started on the active node")
	}
	require.Equal(t, "v", wctx.Value(key{}))
	require.NoError(t, p.StepDown(ctx))
	require.False(t, p.IsActive())
	require.Error(t, wctx.Err(), "the work's context outlived the role")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}
