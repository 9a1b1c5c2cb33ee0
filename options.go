package socketscience

import (
	"context"
	"time"

	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor"
)

// Handler restarts, by default: 10 ms doubling to 5 s, jittered; a type
// whose handler keeps panicking keeps being restarted, never given up.
const (
	DefaultHandlerBackoffInitial = 10 * time.Millisecond
	DefaultHandlerBackoffMax     = 5 * time.Second
)

// DefaultHandlerPolicy is the restart policy for handler actors.
func DefaultHandlerPolicy() supervisor.Policy {
	p := supervisor.DefaultPolicy()
	p.Backoff.Initial = DefaultHandlerBackoffInitial
	p.Backoff.Max = DefaultHandlerBackoffMax
	p.MaxFailures = 0
	return p
}

type options struct {
	log             zerolog.Logger
	nodeID          string
	queueSize       int
	queueBytes      int
	nonBlocking     bool
	reconnect       supervisor.Policy
	handlerPolicy   supervisor.Policy
	clock           supervisor.Clock
	rand            func() float64
	deliverToSelf   bool
	chat            func(context.Context, messages.ChatMessage)
	maxPending      int
	trusted         []int64
	trustedAccounts []string
	noCoalesce      bool
	state           func(context.Context, StateChange)
	secret          []byte
	maxClockSkew    time.Duration
	limits          messages.Limits
	reassembly      messages.ReassemblyLimits
}

// Option configures a Node.
type Option func(*options)

// WithLogger sets where the node logs, protoactor's own warnings included.
// Defaults to zerolog.Nop(): the node logs nothing.
func WithLogger(l zerolog.Logger) Option { return func(o *options) { o.log = l } }

// WithNodeID sets the id this node puts in its frames' envelope. Defaults to
// 16 random hex digits, new for every Node.
func WithNodeID(id string) Option { return func(o *options) { o.nodeID = id } }

// WithQueueSize sets how many outbound posts may wait while the node is
// disconnected or rate limited. Defaults to chatgateway.DefaultQueueSize.
func WithQueueSize(n int) Option { return func(o *options) { o.queueSize = n } }

// WithQueueBytes sets how many bytes of payload data and text the outbound
// queue may hold; past it, Send waits (or fails, WithNonBlockingSend) as
// for a full queue. Defaults to chatgateway.DefaultQueueBytes (16 MiB).
func WithQueueBytes(n int) Option { return func(o *options) { o.queueBytes = n } }

// WithNonBlockingSend makes Send and Post return ErrQueueFull at once when
// the queue is full. Defaults to waiting for room until their ctx ends.
func WithNonBlockingSend() Option { return func(o *options) { o.nonBlocking = true } }

// WithReconnectPolicy sets the backoff and restart intensity for the chat
// connection. Defaults to chatgateway.DefaultReconnectPolicy().
func WithReconnectPolicy(p supervisor.Policy) Option {
	return func(o *options) { o.reconnect = p }
}

// WithHandlerPolicy sets the backoff and restart intensity for handler
// actors that panic. A type whose handler exceeds the intensity stops being
// handled, which is logged. Defaults to DefaultHandlerPolicy().
func WithHandlerPolicy(p supervisor.Policy) Option {
	return func(o *options) { o.handlerPolicy = p }
}

// WithClock sets the clock for backoff and envelope times; tests pass a
// fake one. Defaults to supervisor.SystemClock{}.
func WithClock(c supervisor.Clock) Option { return func(o *options) { o.clock = c } }

// WithRand sets the random source in [0,1) for backoff jitter. Defaults to
// math/rand/v2.Float64.
func WithRand(f func() float64) Option { return func(o *options) { o.rand = f } }

// WithSelfDelivery makes the node handle the payloads it sent itself, as
// the room echoes them back. Defaults to false. Frames with no node id, such
// as SmokeDetector's, are always handled.
func WithSelfDelivery(on bool) Option { return func(o *options) { o.deliverToSelf = on } }

// WithChatHandler sets a callback for every chat message in the room that is
// not a frame (commands typed by people, say), run on its own actor. The
// node's own plain posts come back through it too. Defaults to none.
func WithChatHandler(f func(context.Context, messages.ChatMessage)) Option {
	return func(o *options) { o.chat = f }
}

// WithMaxPending bounds how many messages of one type may wait for a busy
// handler; past it they are dropped and counted. Defaults to
// actors.DefaultMaxPending.
func WithMaxPending(n int) Option { return func(o *options) { o.maxPending = n } }

// WithTrustedUsers sets the chat accounts (by user id, on servers that
// number accounts, as Stack Exchange chat does) whose frames the node
// accepts; frames posted by anyone else are dropped, logged and counted as
// untrusted. Defaults, with WithTrustedAccounts unset too, to the node's
// own chat account, as SmokeDetector does, whose instances all run on one
// account.
func WithTrustedUsers(userIDs ...int64) Option {
	return func(o *options) { o.trusted = userIDs }
}

// WithTrustedAccounts sets the chat accounts, on servers that name accounts
// rather than number them (chatgateway.Identity.Account: an IRC nick, a
// Matrix user id), whose frames the node accepts. They are compared byte
// for byte with what the adapter reports (ircws.Account folds a nick as the
// server does). Defaults, with WithTrustedUsers unset too, to the node's
// own chat account.
func WithTrustedAccounts(accounts ...string) Option {
	return func(o *options) { o.trustedAccounts = accounts }
}

// WithoutCoalescing makes the node post every payload as a frame of its
// own. By default, payloads waiting in the queue whose types do not collide
// are merged into one frame, so a burst costs few posts under a server's
// rate limit; SmokeDetector decodes merged frames as it does any other.
func WithoutCoalescing() Option { return func(o *options) { o.noCoalesce = true } }

// WithStateHandler sets a callback for every change of the node's
// connection: connected; disconnected, with the reason and when it retries;
// stopped for good, with the error. It runs on an actor of its own, in
// order. Defaults to none; Health gives the current state at any time.
func WithStateHandler(f func(context.Context, StateChange)) Option {
	return func(o *options) { o.state = f }
}

// WithSecret makes the node sign every frame it sends with HMAC-SHA256
// under secret, and accept only frames signed with it and made within the
// clock skew (WithMaxClockSkew) of now; replays are dropped too. Every Go
// node of the bot must share the secret. SmokeDetector cannot sign: in a
// room shared with it, leave signing off and rely on WithTrustedUsers.
// Defaults to off.
func WithSecret(secret []byte) Option { return func(o *options) { o.secret = secret } }

// WithMaxClockSkew sets how far from now a signed frame's time may be.
// Defaults to chatgateway.DefaultMaxClockSkew.
func WithMaxClockSkew(d time.Duration) Option { return func(o *options) { o.maxClockSkew = d } }

// WithDecodeLimits bounds what an inbound frame may hold: its length, the
// nesting depth, map, array and string sizes, and the memory decoding it
// would take. A frame over any is dropped, counted as too_large (or
// bad_msgpack for depth), before anything large is allocated. Zero fields
// take messages' defaults (messages.DefaultLimits).
func WithDecodeLimits(l messages.Limits) Option { return func(o *options) { o.limits = l } }

// WithReassemblyLimits bounds what incomplete fragmented payloads may hold,
// per sender and in all, and how long they may take. Zero fields take
// messages' defaults.
func WithReassemblyLimits(l messages.ReassemblyLimits) Option {
	return func(o *options) { o.reassembly = l }
}

func defaultOptions() options {
	return options{
		log:           zerolog.Nop(),
		queueSize:     chatgateway.DefaultQueueSize,
		reconnect:     chatgateway.DefaultReconnectPolicy(),
		handlerPolicy: DefaultHandlerPolicy(),
		clock:         supervisor.SystemClock{},
	}
}
