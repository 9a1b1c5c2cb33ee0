package gateway

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/internal/protocol"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor"
)

// DefaultQueueSize is how many posts may wait in the outbound queue,
// counting the one in flight.
const DefaultQueueSize = 1000

// DefaultQueueBytes is how many bytes of payload data (and plain text) may
// wait in the outbound queue: enough for sixteen of the largest frames.
const DefaultQueueBytes = 16 << 20

// How the gateway takes a server's RetryAfter answers. One answer holds
// posting for a while and teaches a pace; neither may be absurd, whatever
// the server says, and a pace learned once is forgotten while the server
// accepts posts.
const (
	// MinRetryAfter is the shortest hold: a server that says "retry after
	// 0" is not taken at its word. Refusals in a row double it.
	MinRetryAfter = time.Second
	// MaxRetryAfter is the longest hold one answer can cause.
	MaxRetryAfter = 5 * time.Minute
	// MaxLearnedInterval is the slowest pace (one post per interval) that
	// answers can teach.
	MaxLearnedInterval = 30 * time.Second
	// LearnedPaceHalfLife is how fast a learned pace relaxes toward the
	// connection's own (chatgateway.Limits.PostInterval): the difference halves every
	// half-life without a refusal.
	LearnedPaceHalfLife = time.Minute
)

// DefaultReconnectPolicy is the connection's restart policy: backoff from
// 500 ms doubling to 30 s with jitter, never giving up on transient errors.
func DefaultReconnectPolicy() supervisor.Policy {
	p := supervisor.DefaultPolicy()
	p.MaxFailures = 0
	return p
}

// Config is what a Gateway needs. System, Dialer and Router are required.
type Config struct {
	System *actor.ActorSystem
	Dialer chatgateway.Dialer
	// Router receives *protocol.Inbound and *protocol.ChatInbound.
	Router *actor.PID
	// Backlog, if set, is acquired for each message sent to Router: the
	// reader waits while the router is behind (see protocol.Backlog).
	Backlog *protocol.Backlog
	// Policy is the reconnect policy. Defaults to DefaultReconnectPolicy().
	Policy *supervisor.Policy
	// Clock times reconnects. Defaults to supervisor.SystemClock{}.
	Clock supervisor.Clock
	// Rand jitters reconnects. Defaults to math/rand/v2.Float64.
	Rand func() float64
	// Logger defaults to zerolog.Nop().
	Logger   *zerolog.Logger
	Counters *metrics.Counters
	// QueueSize bounds the outbound queue by count, QueueBytes by the bytes
	// of payload data and text it holds. Default to DefaultQueueSize and
	// DefaultQueueBytes.
	QueueSize  int
	QueueBytes int
	// Limits bound inbound frames. Zero fields take messages' defaults
	// (messages.DefaultLimits()).
	Limits messages.Limits
	// NodeID and Incarnation are put in the envelope of every frame the
	// gateway posts. Incarnation must be random for each start of a node
	// (see messages.Envelope.Incarnation).
	NodeID      string
	Incarnation uint64
	// NoCoalesce stops the gateway from merging queued payloads whose types
	// do not collide into one frame. Merging is on by default: a burst of N
	// payloads then costs one post, not N, under a server's rate limit.
	NoCoalesce bool
	// TrustedUsers and TrustedAccounts are the chat accounts whose frames
	// are accepted, by user id on servers that number accounts, by account
	// string on servers that name them (chatgateway.Identity.Account: IRC, Matrix);
	// frames from anyone else are dropped as untrusted. Both empty means
	// the connection's own account, as SmokeDetector does: its instances
	// share one account.
	TrustedUsers    []int64
	TrustedAccounts []string
	// Secret, if set, signs every frame the gateway posts, and frames read
	// must carry a good signature made within MaxClockSkew of now.
	Secret []byte
	// MaxClockSkew is how far a signed frame's time may be from now.
	// Defaults to DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// Reassembly bounds what incomplete fragmented payloads may hold.
	// Defaults to messages' defaults.
	Reassembly messages.ReassemblyLimits
	// Dispatcher runs the gateway's mailbox. Defaults to protoactor's.
	Dispatcher actor.Dispatcher
	// Guardian supervises the gateway actor itself, should it panic: a bug
	// here, not a failed connection (Policy covers those). A restart keeps
	// the queue and dials again. Defaults to protoactor's default strategy.
	Guardian actor.SupervisorStrategy
	// Room is this gateway's index among its node's rooms, passed on in
	// every Inbound. Defaults to 0, a node's first room.
	Room int
	// OnState, if set, is called on the gateway actor with each change of
	// the connection's state. It must not block.
	OnState func(protocol.StateEvent)
}
