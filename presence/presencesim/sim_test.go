package presencesim_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/presence/presencesim"
)

// schedules is how many seeded schedules of each family the test runs:
// PRESENCE_SCHEDULES overrides it (1000 for the full run).
func schedules(t *testing.T) int {
	if s := os.Getenv("PRESENCE_SCHEDULES"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		return n
	}
	return 100
}

func TestSchedules(t *testing.T) {
	for _, healthy := range []bool{false, true} {
		name := "chaos"
		if healthy {
			name = "healthy"
		}
		t.Run(name, func(t *testing.T) {
			n := schedules(t)
			var worst, sum, bound time.Duration
			split, changes, failovers := 0, 0, 0
			for seed := range uint64(n) {
				r := presencesim.Run(seed, presencesim.Config{Healthy: healthy})
				require.NoError(t, r.Err, "seed %d (%d nodes)", seed, r.Nodes)
				require.Zero(t, r.SplitBrainInstants)
				split += r.SplitBrainInstants
				if healthy {
					changes += r.Changes - 1 // the kill after healing makes one
				}
				if r.Failover > 0 {
					failovers++
					worst, sum, bound = max(worst, r.Failover), sum+r.Failover, max(bound, r.FailoverBound)
				}
			}
			require.Positive(t, failovers)
			t.Logf("%d schedules: %d split-brain instants, %d changes of active while healthy; %d failovers: mean %v, worst %v (bound at most %v)",
				n, split, changes, failovers, (sum / time.Duration(failovers)).Round(time.Millisecond),
				worst.Round(time.Millisecond), bound.Round(time.Millisecond))
		})
	}
}
