package presence_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// memchatSchedules is how many seeded schedules TestMemchatSchedules runs
// with real Nodes over memchat (PRESENCE_MEMCHAT_SCHEDULES overrides it).
// They run on the real clock, so they are few; presencesim runs thousands
// on the same Core.
func memchatSchedules(t *testing.T) int {
	if s := os.Getenv("PRESENCE_MEMCHAT_SCHEDULES"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		return n
	}
	return 3
}

// Real Nodes over memchat, seeded faults: broken sockets, failing posts
// and dials (isolation), the active killed mid-way; then healed, the
// active is killed and another must take over. Never two actives (the
// cluster's watch, checked at cleanup).
func TestMemchatSchedules(t *testing.T) {
	for seed := range uint64(memchatSchedules(t)) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			n := 3 + rng.IntN(2)
			c := newCluster(t, n)
			c.active(10 * time.Second)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			dead := map[int]bool{}
			for step := range 40 {
				<-tick.C
				i := rng.IntN(n)
				if dead[i] {
					continue
				}
				if step == 20 { // kill the active mid-way
					for j, p := range c.pres {
						if p.IsActive() && !dead[j] {
							dead[j] = true
							ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
							require.NoError(t, c.nodes[j].Close(ctx))
							cancel()
						}
					}
					continue
				}
				switch rng.IntN(5) {
				case 0, 1:
					c.member[i].Break(nil)
				case 2:
					c.member[i].FailPosts(1+rng.IntN(10), nil)
				case 3:
					c.member[i].FailDials(1+rng.IntN(5), nil)
				case 4:
					c.member[i].FailPosts(1+rng.IntN(10), nil)
					c.member[i].FailDials(1+rng.IntN(5), nil)
					c.member[i].Break(nil)
				}
			}
			for i := range c.member {
				c.member[i].FailPosts(0, nil)
				c.member[i].FailDials(0, nil)
			}
			skip := []int{}
			for i := range dead {
				skip = append(skip, i)
			}
			a := c.active(30*time.Second, skip...)
			require.Eventually(t, func() bool {
				for i, p := range c.pres {
					if !dead[i] && !p.Ready() {
						return false
					}
				}
				return true
			}, 30*time.Second, 10*time.Millisecond, "not every live node caught up")
			killed := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, c.nodes[a].Close(ctx))
			b := c.active(30*time.Second, append(skip, a)...)
			tm := testTimings()
			require.Less(t, time.Since(killed), tm.LeaseDuration+tm.Grace+tm.RenewInterval+2*time.Second)
			c.mu.Lock()
			defer c.mu.Unlock()
			require.True(t, c.lost[a].Before(c.gained[b]))
		})
	}
}
