package presence

import (
	"fmt"
	"time"
)

// Timings are the election's clocks. Every node in a room should use the
// same values: a follower runs the lease it reads in a record, but its
// claim waits by its own LeaseDuration and Grace.
type Timings struct {
	// RenewInterval is how often the active renews its lease (its
	// heartbeat).
	RenewInterval time.Duration
	// RenewDeadline is how long after sending its last renewal that it has
	// read back the active keeps acting: past it, it steps down by its own
	// clock.
	RenewDeadline time.Duration
	// LeaseDuration is how long after reading the latest election record
	// a standby waits, plus Grace, before it claims.
	LeaseDuration time.Duration
	// Grace is added to LeaseDuration for clock rates and server pacing.
	Grace time.Duration
	// ClaimStagger spaces the standbys' claims by rank (priority, then node
	// id), so that the preferred standby usually claims alone.
	ClaimStagger time.Duration
	// StandbyInterval is how often a standby announces itself.
	StandbyInterval time.Duration
	// Tick is how often the driver looks at its clock.
	Tick time.Duration
}

// Stack Exchange chat: one renewal a minute for the active (60 posts an
// hour), one heartbeat every five minutes for each standby (12 an hour), a
// failover within LeaseDuration + Grace + RenewInterval (3.5 minutes) of the
// active's death, about 2 minutes on average. A renewal may be held back by
// 409 throttling for RenewDeadline - RenewInterval (40 s) before the active
// steps down.
const (
	DefaultRenewInterval   = time.Minute
	DefaultRenewDeadline   = 100 * time.Second
	DefaultLeaseDuration   = 130 * time.Second
	DefaultGrace           = 20 * time.Second
	DefaultClaimStagger    = 5 * time.Second
	DefaultStandbyInterval = 5 * time.Minute
	DefaultTick            = time.Second
)

// DefaultTimings are the timings for Stack Exchange chat (see the Default
// constants).
func DefaultTimings() Timings {
	return Timings{
		RenewInterval: DefaultRenewInterval, RenewDeadline: DefaultRenewDeadline,
		LeaseDuration: DefaultLeaseDuration, Grace: DefaultGrace, ClaimStagger: DefaultClaimStagger,
		StandbyInterval: DefaultStandbyInterval, Tick: DefaultTick,
	}
}

// FastTimings suit servers that take a post a second or more (IRC after
// InspIRCd's burst, Matrix): a renewal every 2 s, failover within 7 s of the
// active's death, with the same ratios as DefaultTimings.
func FastTimings() Timings {
	return Timings{
		RenewInterval: 2 * time.Second, RenewDeadline: 3300 * time.Millisecond,
		LeaseDuration: 4300 * time.Millisecond, Grace: 700 * time.Millisecond, ClaimStagger: 200 * time.Millisecond,
		StandbyInterval: 10 * time.Second, Tick: 100 * time.Millisecond,
	}
}

// MaxRateRatio is the ratio of the fastest to the slowest clock rate (as
// measured against real time) that t tolerates without two actives:
// (LeaseDuration + Grace) / RenewDeadline. The package doc derives it.
func (t Timings) MaxRateRatio() float64 {
	return float64(t.LeaseDuration+t.Grace) / float64(t.RenewDeadline)
}

// FailoverBound is the longest a standby waits, by its own clock, after
// the last renewal it read from an active that died, before it claims:
// LeaseDuration + Grace + ClaimStagger × (ranks - 1). The new active then
// starts once its claim is read back.
func (t Timings) FailoverBound(ranks int) time.Duration {
	return t.LeaseDuration + t.Grace + t.ClaimStagger*time.Duration(max(ranks-1, 0))
}

// check holds t to the invariants the guarantees need.
func (t Timings) check() error {
	switch {
	case t.RenewInterval <= 0 || t.RenewDeadline <= 0 || t.LeaseDuration <= 0 || t.Grace < 0 ||
		t.ClaimStagger < 0 || t.StandbyInterval <= 0 || t.Tick <= 0:
		return fmt.Errorf("%w: timings must be positive: %+v", ErrInvalidOption, t)
	case t.RenewInterval >= t.RenewDeadline:
		return fmt.Errorf("%w: RenewInterval %v must be below RenewDeadline %v", ErrInvalidOption, t.RenewInterval, t.RenewDeadline)
	case t.RenewDeadline >= t.LeaseDuration+t.Grace:
		return fmt.Errorf("%w: RenewDeadline %v must be below LeaseDuration + Grace %v", ErrInvalidOption, t.RenewDeadline, t.LeaseDuration+t.Grace)
	case t.Tick > t.RenewDeadline-t.RenewInterval:
		return fmt.Errorf("%w: Tick %v must be at most RenewDeadline - RenewInterval", ErrInvalidOption, t.Tick)
	}
	return nil
}
