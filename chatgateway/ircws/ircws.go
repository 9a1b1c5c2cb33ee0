package ircws

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/supervisor"
)

const (
	// DefaultPostInterval and DefaultPostBurst pace posts below InspIRCd's
	// default flood class (threshold 10 penalty points, commandrate 1000:
	// one point drained per second; a PRIVMSG costs one, JOIN two). A burst
	// of 5 after JOIN stays under the threshold, and 1.1 s per post drains
	// faster than posting fills, leaving room for keepalive PINGs, so the
	// server never holds lines back (fakelag) nor lets them pile up towards
	// its recvq limit (4096 bytes by default: eight full lines).
	DefaultPostInterval = 1100 * time.Millisecond
	DefaultPostBurst    = 5
	// DefaultPingInterval is how often the connection sends an IRC PING
	// when nothing has proved for half that long that the server
	// processes what we send.
	DefaultPingInterval = 30 * time.Second
	// DefaultLivenessTimeout is how long the server may be silent, or
	// leave a PING of ours unanswered, before Read fails with ErrSilent.
	// It must exceed DefaultPingInterval, so that a PING gets the time to
	// be answered.
	DefaultLivenessTimeout = 75 * time.Second
	// DefaultRegisterTimeout bounds connecting, registering and joining.
	DefaultRegisterTimeout = 30 * time.Second
	// MinWSPingInterval is the least time between WebSocket pings:
	// InspIRCd 3 closes a connection that sends a ping or pong frame within
	// 10 s of the previous one ("Ping/pong flood").
	MinWSPingInterval = 11 * time.Second
	// MaxRegistrationBuffer bounds the bytes registration holds: the
	// channel's messages between our JOIN and the end of NAMES (and while
	// waiting for WaitForNicks), kept for Read, and the capabilities of a
	// multi-line CAP LS. Real servers need a few KiB; past the bound Dial
	// fails with ErrRegistrationOverflow rather than let a server fill the
	// heap.
	MaxRegistrationBuffer = 256 << 10
	// MaxEarlyMessages bounds the number of channel messages kept during
	// registration, likewise.
	MaxEarlyMessages = 256
	// MaxNickAttempts is how many fallback nicks Dial tries after 433.
	MaxNickAttempts = 9
	// DefaultMaxHostLen is the host length assumed when the server never
	// shows the connection its own host (63, a DNS label's maximum, is the
	// usual HOSTLEN).
	DefaultMaxHostLen = 63

	// writeTimeout bounds one write by the pump: past it the connection
	// fails with ErrStalled.
	writeTimeout = 10 * time.Second
	// quitTimeout bounds the QUIT that Close sends, and so Close itself.
	quitTimeout = 200 * time.Millisecond
	// writeQueue is how many lines may wait for the pump; a server that
	// lets more pile up is not reading, and the connection fails.
	writeQueue    = 64
	peerWaitToken = "ss-peerwait"
	pingPrefix    = "ss-p"
	inboxSize     = 64
)

var (
	// ErrSilent is what Read returns after nothing came from the server
	// for Config.LivenessTimeout, or nothing answered a PING of ours for
	// that long; the connection has been closed.
	ErrSilent = errors.New("ircws: server silent past liveness timeout")
	// ErrEmptyMessage: Post was given blank text.
	ErrEmptyMessage = errors.New("ircws: empty message")
	// ErrMultiline: Post was given text with a line break that is not a
	// frame's or fragment's (see the package doc), which one IRC line
	// cannot carry.
	ErrMultiline = errors.New("ircws: text has a line break")
	// ErrWireForm: Post was given plain text that starts (after what
	// receivers strip) like a frame's or fragment's IRC form, ". \x02" or
	// ". \x0f": every receiver would read it as a frame.
	ErrWireForm = errors.New("ircws: text is in a frame's wire form")
	// ErrAuth: the server refused the password (464) or SASL (904/905).
	// Dial wraps it with chatgateway.Permanent.
	ErrAuth = errors.New("ircws: authentication failed")
	// ErrJoin: the server refused to let the connection join the channel.
	ErrJoin = errors.New("ircws: cannot join channel")
	// ErrKicked: Read's connection was kicked from the channel.
	ErrKicked = errors.New("ircws: kicked from channel")
	// ErrRegistrationOverflow: during registration the server sent more
	// than Dial keeps (MaxRegistrationBuffer, MaxEarlyMessages).
	ErrRegistrationOverflow = errors.New("ircws: server sent too much during registration")
	// ErrStalled is what Read returns when the server stopped taking what
	// the connection writes: a write did not complete within its deadline.
	ErrStalled = errors.New("ircws: server stopped reading")
	// ErrRefused: the server refused a post to the channel with a numeric
	// (404 ERR_CANNOTSENDTOCHAN and the like). Post returns it unmarked, so
	// that the gateway reconnects and posts again, with backoff: modes and
	// bans change.
	ErrRefused = errors.New("ircws: the server refused the post")
	// ErrServerClosed: the server sent ERROR and closed the link.
	ErrServerClosed = errors.New("ircws: server closed the link")
)

// Config is where and how to connect. URL, Channel and Nick are required.
type Config struct {
	// URL is ws://host:port/path or wss://… for IRC over WebSocket;
	// irc://host:port (plain TCP) or ircs://host:port (TLS).
	URL string
	// Channel is the channel to join, e.g. "#bots"; Key its key, if any.
	Channel string
	Key     string
	// Nick is the nick to register. When it is taken (433), Dial tries
	// FallbackNicks(Nick, MaxNickAttempts) in turn.
	Nick string
	// User and RealName default to Nick.
	User     string
	RealName string
	// Password is sent as PASS, if set.
	Password string
	// SASLUser and SASLPassword, if set, log in with SASL PLAIN; a server
	// without SASL, or refusing it, fails Dial for good.
	SASLUser     string
	SASLPassword string
	// Origin is the WebSocket Origin header, which InspIRCd requires.
	// Defaults to http://<host> (https for wss).
	Origin string
	// Subprotocols offered in the WebSocket handshake. Defaults to
	// text.ircv3.net and text.inspircd.org (InspIRCd 3 knows only the
	// latter; without either it falls back to text mode anyway).
	Subprotocols []string
	// DisableEchoMessage stops the adapter from asking for the IRCv3
	// echo-message capability; Post then echoes its own messages to Read.
	DisableEchoMessage bool
	// PostInterval and PostBurst are reported in Limits, for the gateway's
	// pacing (PostInterval doubled when the server does not echo, as each
	// post is then followed by a PING). Default DefaultPostInterval and
	// DefaultPostBurst.
	PostInterval time.Duration
	PostBurst    int
	// PingInterval, LivenessTimeout and RegisterTimeout default to
	// DefaultPingInterval, DefaultLivenessTimeout and
	// DefaultRegisterTimeout.
	PingInterval    time.Duration
	LivenessTimeout time.Duration
	RegisterTimeout time.Duration
	// WaitForNicks, if set, makes Dial wait after joining until these
	// nicks are in the channel too (or WaitForNicksTimeout, default 10 s,
	// has passed, when it goes on anyway). IRC keeps no history: what is
	// posted before a peer has joined never reaches it. Nodes that list
	// each other here post what they queued during an outage only once
	// their peers are back. Lines arriving meanwhile are kept for Read.
	WaitForNicks        []string
	WaitForNicksTimeout time.Duration
	// WSPingInterval, if positive, also sends WebSocket pings, no more
	// often than MinWSPingInterval.
	WSPingInterval time.Duration
	// Clock times keepalives and the liveness deadline. Defaults to the
	// system clock.
	Clock supervisor.Clock
	// Logger defaults to zerolog.Nop().
	Logger *zerolog.Logger
}

// Dialer connects to one channel. It implements chatgateway.Dialer.
type Dialer struct {
	cfg      Config
	roomBase string         // Identity.Room up to the channel: "irc://host:port"
	log      zerolog.Logger // with "room" as configured (the channel unfolded); a connection's has Identity.Room
	base     zerolog.Logger // Config.Logger as given
	ids      atomic.Int64   // message ids, increasing across its connections
}

var _ chatgateway.Dialer = (*Dialer)(nil)

// NewDialer checks cfg and fills in its defaults.
func NewDialer(cfg Config) (*Dialer, error) {
	switch {
	case cfg.URL == "":
		return nil, errors.New("ircws: Config.URL is required")
	case cfg.Nick == "" || strings.ContainsAny(cfg.Nick, " \r\n\x00,*?!@:"):
		return nil, fmt.Errorf("ircws: bad nick %q", cfg.Nick)
	case cfg.Channel == "" || !strings.ContainsRune("#&+!", rune(cfg.Channel[0])) || strings.ContainsAny(cfg.Channel, " ,\a\r\n\x00"):
		return nil, fmt.Errorf("ircws: bad channel %q", cfg.Channel)
	}
	base, err := roomBase(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.User == "" {
		cfg.User = cfg.Nick
	}
	if cfg.RealName == "" {
		cfg.RealName = cfg.Nick
	}
	if cfg.Subprotocols == nil {
		cfg.Subprotocols = []string{"text.ircv3.net", "text.inspircd.org"}
	}
	if cfg.PostInterval <= 0 {
		cfg.PostInterval = DefaultPostInterval
	}
	if cfg.PostBurst <= 0 {
		cfg.PostBurst = DefaultPostBurst
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.LivenessTimeout <= 0 {
		cfg.LivenessTimeout = DefaultLivenessTimeout
	}
	if cfg.RegisterTimeout <= 0 {
		cfg.RegisterTimeout = DefaultRegisterTimeout
	}
	if cfg.WaitForNicksTimeout <= 0 {
		cfg.WaitForNicksTimeout = 10 * time.Second
	}
	if cfg.WSPingInterval > 0 {
		cfg.WSPingInterval = max(cfg.WSPingInterval, MinWSPingInterval)
	}
	if cfg.Clock == nil {
		cfg.Clock = supervisor.SystemClock{}
	}
	d := &Dialer{cfg: cfg, roomBase: base, log: zerolog.Nop(), base: zerolog.Nop()}
	if cfg.Logger != nil {
		d.base = *cfg.Logger
		d.log = cfg.Logger.With().Str("room", base+"/"+cfg.Channel).Logger()
	}
	return d, nil
}

// registered is what registration learnt.
type registered struct {
	nick     string
	userHost string // "user@host" as the server shows it; "" if unknown
	caps     map[string]bool
	lineLen  int // LINELEN from ISUPPORT, or 512
	casemap  caseMapping
	early    []Line
}

// Dial connects, registers (CAP, PASS, SASL, NICK/USER with fallbacks on
// 433) and joins the channel; it returns once the server has sent the
// channel's names (366).
func (d *Dialer) Dial(ctx context.Context) (chatgateway.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RegisterTimeout)
	defer cancel()
	t, err := dialTransport(ctx, &d.cfg)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = t.close() })
	if dl, ok := ctx.Deadline(); ok {
		_ = t.setReadDeadline(dl)
	}
	reg, err := d.register(t)
	if !stop() {
		_ = t.close()
		return nil, fmt.Errorf("ircws: registering: %w", context.Cause(ctx))
	}
	if err != nil {
		_ = t.close()
		return nil, err
	}
	_ = t.setReadDeadline(time.Time{})
	return d.newConn(t, reg), nil
}

func wantedCaps(offered []string, cfg *Config) map[string]bool {
	want := map[string]bool{}
	for _, c := range offered {
		name, _, _ := strings.Cut(c, "=")
		switch name {
		case "message-tags", "server-time":
			want[name] = true
		case "echo-message":
			if !cfg.DisableEchoMessage {
				want[name] = true
			}
		case "sasl":
			if cfg.SASLUser != "" {
				want[name] = true
			}
		}
	}
	return want
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func saslPlain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + "\x00" + user + "\x00" + pass))
}

// MaxMessageLen is the longest text one PRIVMSG to channel can carry for
// a client seen as nick!userHost, when the server's lines are lineLen
// bytes long including CR LF (512 unless ISUPPORT says LINELEN): the
// server relays ":nick!user@host PRIVMSG #chan :text" and silently cuts
// the relayed line at lineLen-2 bytes. When userHost is unknown (""), the
// user name is taken as ~user and the host as DefaultMaxHostLen bytes.
func MaxMessageLen(lineLen int, nick, user, userHost, channel string) int {
	if lineLen < 512 {
		lineLen = 512
	}
	if userHost == "" {
		userHost = "~" + user + "@" + strings.Repeat("h", DefaultMaxHostLen)
	}
	prefix := len(":"+nick+"!"+userHost) + len(" PRIVMSG "+channel+" :")
	return max(lineLen-2-prefix, 0)
}
