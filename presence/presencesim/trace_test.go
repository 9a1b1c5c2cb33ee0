package presencesim_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/socketscience/socketscience/presence/presencesim"
)

// TestTrace replays one schedule with its trace: PRESENCE_TRACE=seed.
func TestTrace(t *testing.T) {
	s := os.Getenv("PRESENCE_TRACE")
	if s == "" {
		t.Skip("set PRESENCE_TRACE=seed to print one schedule's trace")
	}
	seed, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	r := presencesim.Run(seed, presencesim.Config{Healthy: os.Getenv("PRESENCE_HEALTHY") != "",
		Trace: func(at time.Duration, what string) { t.Logf("%10v %s", at, what) }})
	t.Logf("%+v", r)
}
