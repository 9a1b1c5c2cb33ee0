// Package supervisor decides when a failed thing may run again: a protoactor child actor
// that panicked, or a chat connection that dropped.
//
// protoactor-go's own NewExponentialBackoffStrategy is linear, adds only nanoseconds of
// jitter and never gives up, so this package supplies the policy instead:
//
//   - [Backoff]: true exponential backoff (Initial·Multiplier^attempt, capped at Max) with
//     jitter, so that many instances that fail together do not retry together.
//   - [Policy] and [Tracker]: restart intensity in the style of Erlang/OTP and
//     thejerf/suture. More than MaxFailures failures within Window means the thing is
//     broken rather than unlucky, and the tracker gives up. A failure after ResetAfter
//     of quiet starts the backoff again from the beginning.
//
// Time comes from a [Clock], so tests can drive it with package fakeclock instead of
// sleeping. The package is a leaf: it imports no actor runtime. The protoactor
// SupervisorStrategy that applies a Policy to actors is actors.Strategy; the gateway
// applies one to its connection.
package supervisor
