package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/socketscience/socketscience/presence"
	"github.com/socketscience/socketscience/presence/presencesim"
)

// presenceRun is what one family of simulated schedules showed.
type presenceRun struct {
	failover                []time.Duration
	splitBrain, changes     int
	bound                   time.Duration
	activePerH, standbyPerH float64
}

// simulate runs n seeded schedules of cfg and a quiet hour.
func simulate(n int, cfg presencesim.Config) (presenceRun, error) {
	var r presenceRun
	for seed := range uint64(n) {
		res := presencesim.Run(seed, cfg)
		if res.Err != nil {
			return r, fmt.Errorf("presence: seed %d: %w", seed, res.Err)
		}
		r.splitBrain += res.SplitBrainInstants
		if cfg.Healthy {
			r.changes += res.Changes - 1 // the kill after healing makes one
		}
		if res.Failover > 0 {
			r.failover = append(r.failover, res.Failover)
			r.bound = max(r.bound, res.FailoverBound)
		}
	}
	quiet := cfg
	quiet.Quiet, quiet.Chaos = true, time.Hour
	res := presencesim.Run(1, quiet)
	if res.Err != nil {
		return r, fmt.Errorf("presence: quiet hour: %w", res.Err)
	}
	r.activePerH = float64(res.ActivePosts) / res.ActiveTime.Hours()
	r.standbyPerH = float64(res.StandbyPosts) / res.StandbyTime.Hours()
	return r, nil
}

func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// runPresence drives presence's election core over presencesim's room:
// failover times, leadership changes under a healthy active, split-brain
// instants, and presence posts per hour per node at rest.
func runPresence(_ context.Context, cfg config, _ *machine) (*section, error) {
	n := 1000
	if cfg.quick {
		n = 20
	}
	type family struct {
		name string
		sim  presencesim.Config
	}
	se := presence.DefaultTimings()
	fams := []family{
		{"Stack Exchange (DefaultTimings), chaos", presencesim.Config{Timings: se, Chaos: 30 * time.Minute}},
		{"Stack Exchange (DefaultTimings), healthy active", presencesim.Config{Timings: se, Chaos: 30 * time.Minute, Healthy: true}},
		{"IRC/Matrix (FastTimings), chaos", presencesim.Config{}},
		{"IRC/Matrix (FastTimings), healthy active", presencesim.Config{Healthy: true}},
	}
	s := &section{
		Title: "9. Presence: failover and its cost",
		What: fmt.Sprintf("presence's election core (the state machine every presence.Presence drives) over presencesim's simulated room, "+
			"%d seeded schedules per row, 3-5 nodes whose clocks run at rates within ±10%%: posts failing, late, throttled or lost, "+
			"sockets broken (missing what was said, or resuming), readers stalled, connections flapping, nodes isolated, an active killed "+
			"mid-chaos (chaos rows); in the healthy rows only the standbys suffer, the active's posts are only throttled. After the faults "+
			"heal and every node is caught up, the active is killed: failover is the simulated time until another is active. Posts per hour: "+
			"one quiet simulated hour, no faults.", n),
		Target: "0 split-brain instants, no change under a healthy active, every failover within lease + grace + renewal",
		Header: []string{"schedules", "failover p50", "p90", "max", "bound (lease + grace + renewal)", "split-brain instants",
			"changes while healthy", "posts/h active", "posts/h each standby"},
	}
	for _, f := range fams {
		r, err := simulate(n, f.sim)
		if err != nil {
			return nil, err
		}
		changes := "—"
		if f.sim.Healthy {
			changes = fmt.Sprint(r.changes)
		}
		s.Rows = append(s.Rows, []string{f.name, fmtDur(pct(r.failover, 0.5)), fmtDur(pct(r.failover, 0.9)), fmtDur(pct(r.failover, 1)),
			fmtDur(r.bound), fmt.Sprint(r.splitBrain), changes, fmt.Sprintf("%.0f", r.activePerH), fmt.Sprintf("%.1f", r.standbyPerH)})
		if r.splitBrain != 0 || (f.sim.Healthy && r.changes != 0) {
			return nil, fmt.Errorf("presence: %s: %d split-brain instants, %d changes", f.name, r.splitBrain, r.changes)
		}
	}
	met := true // presencesim fails a schedule that breaks any of the three, and simulate returns its error
	s.Met = &met
	s.Notes = []string{"Failover is measured from the kill, in simulated real time; the bound is by the slowest clock of the schedule. " +
		"Real Nodes over memchat, sechattest and InspIRCd are exercised by presence's tests and test/presence_test.go " +
		"(FastTimings on InspIRCd: failover in about 5 s).",
		"Standby posts per hour include each node's hello at start; at rest a standby posts one heartbeat per StandbyInterval."}
	return s, nil
}

func fmtDur(d time.Duration) string {
	if d >= time.Minute {
		return fmt.Sprintf("%.1f min", d.Minutes())
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
