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
			var worst, sum time.Duration
			for seed := range uint64(n) {
				r := presencesim.Run(seed, presencesim.Config{Healthy: healthy})
				require.NoError(t, r.Err, "seed %d (%d nodes)", seed, r.Nodes)
				require.Zero(t, r.SplitBrainInstants)
				if r.Failover > 0 {
					worst = max(worst, r.Failover)
					sum += r.Failover
				}
			}
			t.Logf("%d schedules: failover mean %v, worst %v", n, sum/time.Duration(n), worst)
		})
	}
}
