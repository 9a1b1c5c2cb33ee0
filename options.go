package socketscience

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/gateway"
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
	noSelfDelivery  bool
	chat            func(context.Context, messages.ChatMessage)
	maxPending      int
	maxPendBytes    int
	trusted         []int64
	trustedAccounts []string
	noCoalesce      bool
	state           func(context.Context, StateChange)
	secret          []byte
	maxClockSkew    time.Duration
	limits          messages.Limits
	reassembly      messages.ReassemblyLimits
	observer        func(HandlerEvent)
	rooms           []chatgateway.Dialer // after New's
	policy          SendPolicy
	reorderWait     time.Duration
}

// Option configures a Node. An option given a value outside its valid range
// (each option's doc states it) makes New fail with an error wrapping
// ErrInvalidOption that names the option, rather than make a node that
// quietly misbehaves.
type Option func(*options) error

// MaxNodeIDLen is the longest node id WithNodeID accepts, in bytes.
const MaxNodeIDLen = 64

// invalidOption is the error of an option given a value outside its range.
func invalidOption(name, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidOption, name, fmt.Sprintf(format, args...))
}

// WithLogger sets where the node logs, protoactor's own warnings included.
// Defaults to zerolog.Nop(): the node logs nothing.
func WithLogger(l zerolog.Logger) Option { return func(o *options) error { o.log = l; return nil } }

// WithNodeID sets the id this node puts in its frames' envelope: 1 to
// MaxNodeIDLen bytes of ASCII letters, digits and ". _ : - / @ +" (a
// SmokeDetector location such as "Henders/EC2" fits), so that it reads
// unambiguously in logs and other nodes' stats: no spaces, control or
// invisible characters. Defaults to 16 random hex digits, new for every Node.
func WithNodeID(id string) Option {
	return func(o *options) error {
		if id == "" || len(id) > MaxNodeIDLen {
			return invalidOption("WithNodeID", "id is %d bytes; want 1 to %d", len(id), MaxNodeIDLen)
		}
		for i := range len(id) {
			if !nodeIDByte(id[i]) {
				return invalidOption("WithNodeID", "id %q has byte %#x at %d; want only A-Z a-z 0-9 . _ : - / @ +", id, id[i], i)
			}
		}
		o.nodeID = id
		return nil
	}
}

func nodeIDByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("._:-/@+", c) >= 0
}

// WithQueueSize sets how many outbound posts may wait while the node is
// disconnected or rate limited: at least 1. Defaults to
// gateway.DefaultQueueSize.
func WithQueueSize(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return invalidOption("WithQueueSize", "%d; want at least 1", n)
		}
		o.queueSize = n
		return nil
	}
}

// WithQueueBytes sets how many bytes of payload data and text the outbound
// queue may hold: at least messages.DefaultMaxFrameLen, so that the largest
// payload fits. Past it, Send waits (or fails, WithNonBlockingSend) as for
// a full queue. Defaults to gateway.DefaultQueueBytes (16 MiB).
func WithQueueBytes(n int) Option {
	return func(o *options) error {
		if n < messages.DefaultMaxFrameLen {
			return invalidOption("WithQueueBytes", "%d; want at least %d", n, messages.DefaultMaxFrameLen)
		}
		o.queueBytes = n
		return nil
	}
}

// WithNonBlockingSend makes Send and Post return ErrQueueFull at once when
// the queue is full. Defaults to blocking: they wait for room until their
// ctx ends.
func WithNonBlockingSend() Option { return func(o *options) error { o.nonBlocking = true; return nil } }

// WithReconnectPolicy sets the backoff and restart intensity for the chat
// connection; every value of supervisor.Policy has a stated meaning.
// Defaults to gateway.DefaultReconnectPolicy().
func WithReconnectPolicy(p supervisor.Policy) Option {
	return func(o *options) error { o.reconnect = p; return nil }
}

// WithHandlerPolicy sets the backoff and restart intensity for handler
// actors that panic. A type whose handler exceeds the intensity stops being
// handled, which is logged. Defaults to DefaultHandlerPolicy().
func WithHandlerPolicy(p supervisor.Policy) Option {
	return func(o *options) error { o.handlerPolicy = p; return nil }
}

// WithClock sets the clock for backoff and envelope times; tests pass a
// fake one. It must not be nil. Defaults to supervisor.SystemClock{}.
func WithClock(c supervisor.Clock) Option {
	return func(o *options) error {
		if c == nil {
			return invalidOption("WithClock", "nil clock")
		}
		o.clock = c
		return nil
	}
}

// WithRand sets the random source in [0,1) for backoff jitter. It must not
// be nil. Defaults to math/rand/v2.Float64.
func WithRand(f func() float64) Option {
	return func(o *options) error {
		if f == nil {
			return invalidOption("WithRand", "nil function")
		}
		o.rand = f
		return nil
	}
}

// WithoutSelfDelivery makes the node skip the payloads it sent itself when
// the room echoes them back (counted in Stats.OwnFrames). Defaults to
// handling them, as SmokeDetector does and NATS echoes by default: the node
// that sends a command's payload serves it too, as every other does. Frames
// with no node id, such as SmokeDetector's, are always handled.
func WithoutSelfDelivery() Option {
	return func(o *options) error { o.noSelfDelivery = true; return nil }
}

// WithChatHandler sets a callback for every chat message in the room that is
// not a frame (commands typed by people, say), run on its own actor. The
// node's own plain posts come back through it too. f must not be nil.
// Defaults to none.
func WithChatHandler(f func(context.Context, messages.ChatMessage)) Option {
	return func(o *options) error {
		if f == nil {
			return invalidOption("WithChatHandler", "nil function")
		}
		o.chat = f
		return nil
	}
}

// WithMaxPending bounds how many messages of one type may wait for a busy
// handler: at least 1. Past it they are dropped and counted as
// handler_queue_full. Defaults to actors.DefaultMaxPending.
func WithMaxPending(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return invalidOption("WithMaxPending", "%d; want at least 1", n)
		}
		o.maxPending = n
		return nil
	}
}

// WithMaxPendingBytes bounds how many bytes of messages may wait for one
// busy handler (a typed message's msgpack data, a chat message's text): at
// least 1. Past it they are dropped and counted as handler_queue_full, as is
// a single message larger than n. Defaults to actors.DefaultMaxPendingBytes
// (16 MiB) per handler.
func WithMaxPendingBytes(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return invalidOption("WithMaxPendingBytes", "%d; want at least 1", n)
		}
		o.maxPendBytes = n
		return nil
	}
}

// WithTrustedUsers sets the chat accounts (by user id, on servers that
// number accounts, as Stack Exchange chat does) whose frames the node
// accepts; frames posted by anyone else are dropped, logged and counted as
// untrusted. Defaults, with WithTrustedAccounts unset too, to the node's
// own chat account, as SmokeDetector does, whose instances all run on one
// account; so does an empty list.
func WithTrustedUsers(userIDs ...int64) Option {
	return func(o *options) error { o.trusted = userIDs; return nil }
}

// WithTrustedAccounts sets the chat accounts, on servers that name accounts
// rather than number them (chatgateway.Identity.Account: an IRC nick, a
// Matrix user id), whose frames the node accepts. They are compared byte
// for byte with what the adapter reports (ircws.Account folds a nick as the
// server does). Defaults, with WithTrustedUsers unset too, to the node's
// own chat account.
func WithTrustedAccounts(accounts ...string) Option {
	return func(o *options) error { o.trustedAccounts = accounts; return nil }
}

// WithoutCoalescing makes the node post every payload as a frame of its
// own. Defaults to coalescing: payloads waiting in the queue whose types do
// not collide are merged into one frame, so a burst costs few posts under a
// server's rate limit; SmokeDetector decodes merged frames as it does any
// other.
func WithoutCoalescing() Option { return func(o *options) error { o.noCoalesce = true; return nil } }

// WithStateHandler sets a callback for every change of the node's
// connection: connected; disconnected, with the reason and when it retries;
// stopped for good, with the error. It runs on an actor of its own, in
// order. f must not be nil. Defaults to none; Health gives the current
// state at any time.
func WithStateHandler(f func(context.Context, StateChange)) Option {
	return func(o *options) error {
		if f == nil {
			return invalidOption("WithStateHandler", "nil function")
		}
		o.state = f
		return nil
	}
}

// WithSecret makes the node sign every frame it sends with HMAC-SHA256
// under secret, and accept only frames signed with it and made within the
// clock skew (WithMaxClockSkew) of now; replays are dropped too. Every Go
// node of the bot must share the secret. The secret must not be empty (an
// unset environment variable would otherwise turn signing into a node that
// drops every peer's frame); 32 random bytes are plenty. SmokeDetector
// cannot sign: in a room shared with it, leave signing off and rely on
// WithTrustedUsers. Defaults to off.
func WithSecret(secret []byte) Option {
	return func(o *options) error {
		if len(secret) == 0 {
			return invalidOption("WithSecret", "empty secret")
		}
		o.secret = secret
		return nil
	}
}

// WithMaxClockSkew sets how far from now a signed frame's time may be: more
// than 0. Defaults to gateway.DefaultMaxClockSkew.
func WithMaxClockSkew(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return invalidOption("WithMaxClockSkew", "%v; want more than 0", d)
		}
		o.maxClockSkew = d
		return nil
	}
}

// WithDecodeLimits bounds what an inbound frame may hold: its length, the
// nesting depth, map, array and string sizes, and the memory decoding it
// would take. A frame over any is dropped, counted as too_large (or
// bad_msgpack for depth), before anything large is allocated. No field
// may be negative; a zero field takes its default. Defaults to
// messages.DefaultLimits().
func WithDecodeLimits(l messages.Limits) Option {
	return func(o *options) error {
		for _, f := range []struct {
			name string
			v    int
		}{{"MaxFrameLen", l.MaxFrameLen}, {"MaxDepth", l.MaxDepth}, {"MaxMapLen", l.MaxMapLen},
			{"MaxArrayLen", l.MaxArrayLen}, {"MaxStringLen", l.MaxStringLen}, {"MaxDecodedSize", l.MaxDecodedSize}} {
			if f.v < 0 {
				return invalidOption("WithDecodeLimits", "%s is %d; want 0 (the default) or more", f.name, f.v)
			}
		}
		o.limits = l
		return nil
	}
}

// WithReassemblyLimits bounds what incomplete fragmented payloads may hold,
// per sending node and in all, and how long they may wait for their next
// piece. No field may be negative; a zero field takes its default. Defaults
// to messages.ReassemblyLimits{}.Resolved(): 256 pieces a payload, 8
// incomplete payloads and a little over 1 MiB a sending node, 8 MiB in
// all, 30 s without a new piece.
func WithReassemblyLimits(l messages.ReassemblyLimits) Option {
	return func(o *options) error {
		for _, f := range []struct {
			name string
			v    int64
		}{{"MaxFragments", int64(l.MaxFragments)}, {"MaxBytesPerSender", int64(l.MaxBytesPerSender)},
			{"MaxBytesTotal", int64(l.MaxBytesTotal)}, {"MaxPendingPerSender", int64(l.MaxPendingPerSender)},
			{"Timeout", int64(l.Timeout)}} {
			if f.v < 0 {
				return invalidOption("WithReassemblyLimits", "%s is %d; want 0 (the default) or more", f.name, f.v)
			}
		}
		o.reassembly = l
		return nil
	}
}

// WithReorderWait sets how long a payload that arrives ahead of a gap in
// its sender's payload seqs (a room lost or is slow to bring the one
// before) is held for the missing one before the gap is given up on,
// counted in Stats.ReorderGaps: more than 0. Defaults to
// actors.DefaultReorderWait (2 s), on WithClock's clock.
func WithReorderWait(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return invalidOption("WithReorderWait", "%v; want more than 0", d)
		}
		o.reorderWait = d
		return nil
	}
}

func defaultOptions() options {
	return options{
		log:           zerolog.Nop(),
		queueSize:     gateway.DefaultQueueSize,
		reconnect:     gateway.DefaultReconnectPolicy(),
		handlerPolicy: DefaultHandlerPolicy(),
		clock:         supervisor.SystemClock{},
	}
}
