package ircws

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/messages"
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
	// when it has heard nothing for half that long.
	DefaultPingInterval = 30 * time.Second
	// DefaultLivenessTimeout is how long the server may be silent (PONGs
	// included) before Read fails with ErrSilent.
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

	writeTimeout  = 10 * time.Second
	peerWaitToken = "ss-peerwait"
	inboxSize     = 64
)

var (
	// ErrSilent is what Read returns after nothing came from the server
	// for Config.LivenessTimeout; the connection has been closed.
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
	// pacing. Default DefaultPostInterval and DefaultPostBurst.
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
	roomBase string // Identity.Room up to the channel: "irc://host:port"
	log      zerolog.Logger
	ids      atomic.Int64 // message ids, increasing across its connections
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
	d := &Dialer{cfg: cfg, roomBase: base, log: zerolog.Nop()}
	if cfg.Logger != nil {
		d.log = cfg.Logger.With().Str("channel", cfg.Channel).Logger()
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

// conn is one registered connection in the channel. An internal goroutine
// is the transport's only reader: it answers PINGs and hands channel
// messages to Read, which also returns Post's local echoes when the server
// does not echo.
type conn struct {
	d       *Dialer
	cfg     *Config
	t       transport
	log     zerolog.Logger
	channel string
	casemap caseMapping
	echo    bool // the server echoes our PRIVMSGs (echo-message)

	in         chan messages.ChatMessage
	done       chan struct{} // closed by Close
	readerDone chan struct{} // closed when the reader goroutine ends
	readErr    error         // set before readerDone closes

	wmu sync.Mutex // serialises writes

	mu sync.Mutex
	// self and limits follow the nick: services may change it (NICK).
	self       chatgateway.Identity
	limits     chatgateway.Limits
	lineLen    int
	userHost   string
	reason     error // why the adapter closed the transport: ErrConnClosed or ErrSilent
	lastRecv   time.Time
	lastWSPing time.Time
	keepalive  supervisor.Timer

	closeOnce sync.Once
}

var _ chatgateway.Conn = (*conn)(nil)

// newConn makes the connection and starts its reader and keepalive.
func (d *Dialer) newConn(t transport, reg *registered) *conn {
	k := d.connState(t, reg)
	k.start()
	k.log.Info().Str("user_host", reg.userHost).Int("max_message_len", k.Limits().MaxMessageLen).
		Bool("echo_message", k.echo).Str("subprotocol", t.subprotocol()).Msg("joined")
	return k
}

func (k *conn) start() {
	k.mu.Lock()
	k.keepalive = k.cfg.Clock.AfterFunc(k.cfg.PingInterval, k.tick)
	k.mu.Unlock()
	go k.read()
}

// connState is the connection's state, with nothing started (fuzzing
// drives its handle method directly).
func (d *Dialer) connState(t transport, reg *registered) *conn {
	k := &conn{
		d: d, cfg: &d.cfg, t: t, channel: d.cfg.Channel,
		casemap:    reg.casemap,
		echo:       reg.caps["echo-message"],
		in:         make(chan messages.ChatMessage, inboxSize+len(reg.early)),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	k.lineLen, k.userHost = reg.lineLen, reg.userHost
	k.limits = chatgateway.Limits{PostInterval: d.cfg.PostInterval, PostBurst: d.cfg.PostBurst}
	k.self.Room = d.roomBase + "/" + k.casemap.fold(d.cfg.Channel)
	k.setNick(reg.nick)
	k.log = d.log.With().Str("nick", reg.nick).Logger()
	now := d.cfg.Clock.Now()
	k.lastRecv, k.lastWSPing = now, now
	for _, l := range reg.early {
		if m, ok := k.message(l); ok {
			k.in <- m // fits: registration keeps few
		}
	}
	return k
}

// read is the transport's only reader.
func (k *conn) read() {
	defer close(k.readerDone)
	for {
		raw, err := k.t.readLine()
		if err != nil {
			k.mu.Lock()
			reason := k.reason
			k.mu.Unlock()
			switch reason {
			case nil:
				k.readErr = fmt.Errorf("ircws: reading: %w", err)
			case ErrSilent:
				k.readErr = fmt.Errorf("%w: nothing for %s", ErrSilent, k.cfg.LivenessTimeout)
			default:
				k.readErr = reason
			}
			return
		}
		k.mu.Lock()
		k.lastRecv = k.cfg.Clock.Now()
		k.mu.Unlock()
		l, err := ParseLine(raw)
		if err != nil {
			continue
		}
		if err := k.handle(l); err != nil {
			k.readErr = err
			if err != chatgateway.ErrConnClosed {
				_ = k.t.close()
			}
			return
		}
	}
}

// handle acts on one line from the server; an error ends the connection
// with it. Every field of the line is the server's, and untrusted: any
// parameter may be missing.
func (k *conn) handle(l Line) error {
	switch l.Command {
	case "PING":
		if err := k.write(Line{Command: "PONG", Params: l.Params, Trailing: l.Trailing}.String()); err != nil {
			k.log.Debug().Err(err).Msg("answering PING")
		}
	case "PRIVMSG":
		m, ok := k.message(l)
		if !ok {
			return nil
		}
		select {
		case k.in <- m:
		case <-k.done:
			return chatgateway.ErrConnClosed
		}
	case "KICK":
		if k.same(l.Param(0), k.channel) && k.same(l.Param(1), k.Identity().UserName) {
			return fmt.Errorf("%w by %s: %s", ErrKicked, l.Nick(), l.Param(2))
		}
	case "NICK":
		// Services may rename us (a nick we may not keep, a guest nick):
		// follow it, or we would go on posting under a stale identity
		// that peers do not trust, and miss our own KICK.
		if old := k.Identity().UserName; k.same(l.Nick(), old) && validNick(l.Param(0)) {
			k.setNick(l.Param(0))
			k.log.Warn().Str("old_nick", old).Str("new_nick", l.Param(0)).Msg("the server changed our nick")
		}
	case "ERROR":
		return fmt.Errorf("%w: %s", ErrServerClosed, l.Param(0))
	case "404": // ERR_CANNOTSENDTOCHAN
		k.log.Warn().Str("reply", l.Last()).Msg("server refused a post to the channel")
	}
	return nil
}

// setNick makes nick the connection's identity; MaxMessageLen follows the
// prefix that the server now relays posts with.
func (k *conn) setNick(nick string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.self.UserName, k.self.UserID, k.self.Account = nick, UserID(nick), k.casemap.fold(nick)
	k.limits.MaxMessageLen = MaxMessageLen(k.lineLen, nick, k.cfg.User, k.userHost, k.channel)
}

// same compares nicks or channel names as the server does.
func (k *conn) same(a, b string) bool { return k.casemap.fold(a) == k.casemap.fold(b) }

// message turns a PRIVMSG to the channel into a ChatMessage; CTCP (and so
// ACTION) messages and private messages are skipped.
func (k *conn) message(l Line) (messages.ChatMessage, bool) {
	if len(l.Params) < 2 || !k.same(l.Params[0], k.channel) || strings.HasPrefix(l.Params[1], "\x01") {
		return messages.ChatMessage{}, false
	}
	nick := l.Nick()
	if nick == "" { // no sender to attribute it to (nor to trust)
		return messages.ChatMessage{}, false
	}
	m := messages.ChatMessage{
		ID:       k.d.ids.Add(1),
		UserID:   UserID(nick),
		UserName: nick,
		Account:  k.casemap.fold(nick),
		Text:     fromWire(l.Params[1]),
		Time:     k.cfg.Clock.Now(),
	}
	if ts, ok := l.Tags["time"]; ok {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			m.Time = t
		}
	}
	return m, true
}

// tick is the keepalive timer: it fails a silent connection, and otherwise
// sends a PING when nothing has come for half a PingInterval.
func (k *conn) tick() {
	k.mu.Lock()
	if k.reason != nil {
		k.mu.Unlock()
		return
	}
	now := k.cfg.Clock.Now()
	silent := now.Sub(k.lastRecv)
	if silent >= k.cfg.LivenessTimeout {
		k.reason = ErrSilent
		k.mu.Unlock()
		k.log.Warn().Dur("silent", silent).Msg("server silent; closing the connection")
		_ = k.t.close()
		return
	}
	wsPing := k.cfg.WSPingInterval > 0 && now.Sub(k.lastWSPing) >= k.cfg.WSPingInterval
	if wsPing {
		k.lastWSPing = now
	}
	k.keepalive = k.cfg.Clock.AfterFunc(k.cfg.PingInterval, k.tick)
	k.mu.Unlock()
	if silent >= k.cfg.PingInterval/2 {
		if err := k.write("PING :ss" + strconv.FormatInt(now.UnixMilli(), 10)); err != nil {
			k.log.Debug().Err(err).Msg("sending PING")
		}
	}
	if wsPing {
		k.wmu.Lock()
		err := k.t.ping(time.Now().Add(writeTimeout))
		k.wmu.Unlock()
		if err != nil {
			k.log.Debug().Err(err).Msg("sending WebSocket ping")
		}
	}
}

func (k *conn) write(line string) error {
	k.wmu.Lock()
	defer k.wmu.Unlock()
	return k.t.writeLine(line, time.Now().Add(writeTimeout))
}

// Read returns the next message to the channel, own posts included (echoed
// by the server with echo-message, else by Post). After the connection
// failed it returns why: the server's ERROR, a kick, ErrSilent, or the
// transport's error; after Close, chatgateway.ErrConnClosed.
func (k *conn) Read() (messages.ChatMessage, error) {
	select { // after Close, nothing more is read, even if messages are waiting
	case <-k.done:
		return messages.ChatMessage{}, chatgateway.ErrConnClosed
	default:
	}
	select {
	case m := <-k.in:
		return m, nil
	case <-k.done:
		return messages.ChatMessage{}, chatgateway.ErrConnClosed
	case <-k.readerDone:
		select {
		case m := <-k.in:
			return m, nil
		default:
		}
		return messages.ChatMessage{}, k.readErr
	}
}

// Post sends text to the channel as one PRIVMSG (frames and fragments
// mapped as the package doc says). IRC acknowledges nothing: Post
// succeeds once the line is written. With echo-message the server's echo
// brings the message back to Read, and Post returns 0 for its id, unknown
// until then; without it Post hands Read the echo itself and returns its
// id. Blank text and text with other line breaks are refused with errors
// wrapping chatgateway.ErrRejected; text over Limits().MaxMessageLen with
// chatgateway.ErrMessageTooLong.
func (k *conn) Post(ctx context.Context, text string) (int64, error) {
	select {
	case <-k.done:
		return 0, chatgateway.ErrConnClosed
	default:
	}
	if strings.TrimSpace(text) == "" {
		return 0, chatgateway.Rejected(ErrEmptyMessage)
	}
	wire, ok := toWire(text)
	if !ok {
		if strings.ContainsAny(text, "\r\n\x00") {
			return 0, chatgateway.Rejected(ErrMultiline)
		}
		return 0, chatgateway.Rejected(ErrWireForm)
	}
	self, limits := k.Identity(), k.Limits()
	if len(wire) > limits.MaxMessageLen {
		return 0, fmt.Errorf("%w: %d bytes, the channel takes %d", chatgateway.ErrMessageTooLong, len(wire), limits.MaxMessageLen)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := k.write("PRIVMSG " + k.channel + " :" + wire); err != nil {
		select {
		case <-k.done:
			return 0, chatgateway.ErrConnClosed
		default:
		}
		return 0, fmt.Errorf("ircws: posting: %w", err)
	}
	if k.echo {
		return 0, nil
	}
	m := messages.ChatMessage{ID: k.d.ids.Add(1), UserID: self.UserID, UserName: self.UserName, Account: self.Account,
		Text: text, Time: k.cfg.Clock.Now()}
	select {
	case k.in <- m:
	case <-k.done:
	case <-ctx.Done():
	}
	return m.ID, nil
}

// Identity is the nick, its UserID and Account, and the Room. The nick is
// the registered one until the server changes it (NICK, as services do);
// Identity is safe to call from any goroutine.
func (k *conn) Identity() chatgateway.Identity {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.self
}

// Limits: MaxMessageLen from the line budget and the prefix the server
// shows for this connection (it follows a nick change); the configured
// pacing. Safe to call from any goroutine.
func (k *conn) Limits() chatgateway.Limits {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.limits
}

// Close sends QUIT, closes the transport and waits for the reader
// goroutine. It is idempotent and returns nil.
func (k *conn) Close() error {
	k.closeOnce.Do(func() {
		k.mu.Lock()
		if k.reason == nil {
			k.reason = chatgateway.ErrConnClosed
		}
		t := k.keepalive
		k.keepalive = nil
		k.mu.Unlock()
		if t != nil {
			t.Stop()
		}
		close(k.done)
		k.wmu.Lock()
		_ = k.t.writeLine("QUIT :bye", time.Now().Add(200*time.Millisecond))
		k.wmu.Unlock()
		_ = k.t.close()
		<-k.readerDone
	})
	return nil
}
