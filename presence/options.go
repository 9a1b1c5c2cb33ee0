package presence

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/socketscience/socketscience/supervisor"
)

// Option configures a Presence; an option given a value outside its range
// makes New fail with an error wrapping ErrInvalidOption.
type Option func(*options) error

type options struct {
	name     string
	priority int
	version  string
	timings  Timings
	failback bool
	force    Force
	log      zerolog.Logger
	clock    supervisor.Clock
	ping     string
	onRole   func(context.Context, RoleChange)
	onMember func(context.Context, Member)
}

// RoleChange is this node becoming the active instance or ceasing to be.
type RoleChange struct {
	Active bool
	// Term is the term won or lost: the fencing token to hand to what the
	// active writes while it holds it.
	Term uint64
	// Reason says why the role changed ("claim won", "renew deadline",
	// "claimed by n2", "handover", …).
	Reason string
	// At is when the role changed, by presence's clock: a loss is at the
	// instant IsActive turned false and WhileActive's context was
	// cancelled, even though the callback runs a little later.
	At time.Time
}

func defaultOptions() options {
	return options{timings: DefaultTimings(), force: ForceAuto, log: zerolog.Nop(), clock: supervisor.SystemClock{}}
}

// WithName sets the name (a location such as SmokeDetector's "Henders/EC2")
// that other members show for this node. Defaults to the node id.
func WithName(name string) Option {
	return func(o *options) error {
		if len(name) > maxNameLen {
			return fmt.Errorf("%w: WithName: %d bytes, at most %d", ErrInvalidOption, len(name), maxNameLen)
		}
		o.name = name
		return nil
	}
}

// WithPriority sets this node's priority: among standbys, higher claims
// first when the lease runs out (ties by lower node id), and with
// WithFailback the active hands over to a higher one. Defaults to 0.
func WithPriority(p int) Option { return func(o *options) error { o.priority = p; return nil } }

// WithVersion sets the version string announced to other members (at
// most 64 bytes). Defaults to none.
func WithVersion(v string) Option {
	return func(o *options) error {
		if len(v) > maxVersionLen {
			return fmt.Errorf("%w: WithVersion: %d bytes, at most %d", ErrInvalidOption, len(v), maxVersionLen)
		}
		o.version = v
		return nil
	}
}

// WithTimings sets the election's timings; every node in the room should
// use the same. Defaults to DefaultTimings() (Stack Exchange chat);
// FastTimings() suits IRC and Matrix.
func WithTimings(t Timings) Option {
	return func(o *options) error {
		if err := t.check(); err != nil {
			return fmt.Errorf("WithTimings: %w", err)
		}
		o.timings = t
		return nil
	}
}

// WithFailback makes the active hand over to an alive standby of higher
// priority once that standby has run for a lease. Defaults to off: a
// returning preferred instance stays standby, so leadership does not flap.
func WithFailback() Option { return func(o *options) error { o.failback = true; return nil } }

// WithForce starts the node with an operator's override (see Force).
// Defaults to ForceAuto.
func WithForce(f Force) Option {
	return func(o *options) error {
		switch f {
		case ForceAuto, ForceStandby, ForceActive:
			o.force = f
			return nil
		}
		return fmt.Errorf("%w: WithForce(%q)", ErrInvalidOption, f)
	}
}

// WithLogger sets where presence logs role changes and dropped records.
// Defaults to zerolog.Nop().
func WithLogger(l zerolog.Logger) Option { return func(o *options) error { o.log = l; return nil } }

// WithClock sets the clock; tests pass a fake one. Defaults to
// supervisor.SystemClock{}.
func WithClock(c supervisor.Clock) Option {
	return func(o *options) error {
		if c == nil {
			return fmt.Errorf("%w: WithClock(nil)", ErrInvalidOption)
		}
		o.clock = c
		return nil
	}
}

// WithSmokeDetectorPing makes the active send SmokeDetector's
// {"ping": {"location", "timestamp"}} with each renewal, so that Python
// standbys in the room see a live active. Defaults to off.
func WithSmokeDetectorPing(location string) Option {
	return func(o *options) error {
		if location == "" || len(location) > maxNameLen {
			return fmt.Errorf("%w: WithSmokeDetectorPing: location of %d bytes", ErrInvalidOption, len(location))
		}
		o.ping = location
		return nil
	}
}

// WithOnRoleChange calls f each time this node becomes active or stops
// being so, in order, on presence's own goroutine (after WhileActive's
// context was cancelled, for a loss). f must not block for long. Defaults
// to none.
func WithOnRoleChange(f func(context.Context, RoleChange)) Option {
	return func(o *options) error { o.onRole = f; return nil }
}

// WithOnMemberChange calls f each time a member appears or its role, term
// or status changes, in order, on presence's own goroutine. Defaults to
// none.
func WithOnMemberChange(f func(context.Context, Member)) Option {
	return func(o *options) error { o.onMember = f; return nil }
}
