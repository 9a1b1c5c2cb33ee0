package ircws

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor"
)

// conn is one registered connection in the channel. Two goroutines own the
// socket, as in gorilla's chat example: the reader (read) is its only
// reader, answers PINGs and hands channel messages to Read; the write pump
// (pump) is its only writer, and every line (PONGs, PINGs, posts, QUIT)
// and WebSocket ping goes through it. Nobody else waits on a write, so a
// server that stops reading blocks only the pump, and Close can close the
// transport under it.
type conn struct {
	d       *Dialer
	cfg     *Config
	t       transport
	log     zerolog.Logger
	channel string
	casemap caseMapping
	echo    bool // the server echoes our PRIVMSGs (echo-message)

	in         chan messages.ChatMessage
	out        chan outLine  // to the write pump
	done       chan struct{} // closed by Close
	dead       chan struct{} // closed when the connection has failed or is closed
	readerDone chan struct{} // closed when the reader goroutine ends
	pumpDone   chan struct{} // closed when the write pump ends
	readErr    error         // set before readerDone closes

	mu sync.Mutex
	// self and limits follow the nick: services may change it (NICK).
	self     chatgateway.Identity
	limits   chatgateway.Limits
	lineLen  int
	userHost string
	reason   error // why the connection ended; set once, before dead closes
	lastRecv time.Time
	// probes are our lines that await proof that the server processed
	// them (a PONG to our PING's token), oldest first; lastProof is when
	// the last proof came. An old probe means the server does not process
	// what we send, though it may go on sending.
	probes     []*probe
	probeSeq   int64
	lastProof  time.Time
	lastWSPing time.Time
	keepalive  supervisor.Timer

	closeOnce sync.Once
}

// probe is one line of ours that awaits proof of processing.
type probe struct {
	token string // the PING token whose PONG proves it ("" for an echo)
	at    time.Time
	// post: a PRIVMSG of Post's, proven by token's PONG or, with
	// echo-message, by its echo (echo set); a refusal numeric disproves
	// it. Post waits on result.
	post, echo bool
	result     chan error
}

// outLine is one write for the pump: an IRC line (and the line to write
// right after it, if any), or a WebSocket ping.
type outLine struct {
	line, then string
	wsPing     bool
}

var _ chatgateway.Conn = (*conn)(nil)

// newConn makes the connection and starts its goroutines and keepalive.
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
	go k.pump()
}

// connState is the connection's state, with nothing started (fuzzing
// drives its handle method directly).
func (d *Dialer) connState(t transport, reg *registered) *conn {
	k := &conn{
		d: d, cfg: &d.cfg, t: t, channel: d.cfg.Channel,
		casemap:    reg.casemap,
		echo:       reg.caps["echo-message"],
		in:         make(chan messages.ChatMessage, inboxSize+len(reg.early)),
		out:        make(chan outLine, writeQueue),
		done:       make(chan struct{}),
		dead:       make(chan struct{}),
		readerDone: make(chan struct{}),
		pumpDone:   make(chan struct{}),
	}
	k.lineLen, k.userHost = reg.lineLen, reg.userHost
	k.limits = chatgateway.Limits{PostInterval: d.cfg.PostInterval, PostBurst: d.cfg.PostBurst}
	if !k.echo {
		// Each post is two lines, the PRIVMSG and the PING that proves it,
		// and so costs twice the flood penalty.
		k.limits.PostInterval *= 2
	}
	k.self.Room = d.roomBase + "/" + k.casemap.fold(d.cfg.Channel)
	k.setNick(reg.nick)
	k.log = d.base.With().Str("room", k.self.Room).Str("nick", reg.nick).Logger()
	now := d.cfg.Clock.Now()
	k.lastRecv, k.lastWSPing, k.lastProof = now, now, now
	for _, l := range reg.early {
		if m, ok := k.message(l); ok {
			k.in <- m // fits: in has room for them all
		}
	}
	return k
}

// fail ends the connection for reason (the first reason sticks): the
// transport is closed, which ends the reader and the pump.
func (k *conn) fail(reason error) {
	k.mu.Lock()
	first := k.reason == nil
	if first {
		k.reason = reason
		close(k.dead)
	}
	k.mu.Unlock()
	if first {
		_ = k.t.close()
	}
}

// failure is why the connection ended, or nil.
func (k *conn) failure() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reason
}

// read is the transport's only reader.
func (k *conn) read() {
	defer close(k.readerDone)
	for {
		raw, err := k.t.readLine()
		if err != nil {
			k.fail(fmt.Errorf("ircws: reading: %w", err))
			k.readErr = k.failure()
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
			k.fail(err)
			k.readErr = k.failure()
			return
		}
	}
}

// pump is the transport's only writer. It ends when a write fails (the
// connection fails with it), when the connection fails, or at Close, after
// a last QUIT that may take at most quitTimeout.
func (k *conn) pump() {
	defer close(k.pumpDone)
	for {
		select {
		case w := <-k.out:
			var err error
			switch {
			case w.wsPing:
				err = k.t.ping(time.Now().Add(writeTimeout))
			default:
				err = k.t.writeLine(w.line, time.Now().Add(writeTimeout))
				if err == nil && w.then != "" {
					err = k.t.writeLine(w.then, time.Now().Add(writeTimeout))
				}
			}
			if err != nil {
				k.fail(fmt.Errorf("%w: %w", ErrStalled, err))
				return
			}
		case <-k.done:
			_ = k.t.writeLine("QUIT :bye", time.Now().Add(quitTimeout))
			return
		case <-k.dead:
			return
		}
	}
}

// send queues w for the pump. It waits for room in the queue while the
// connection lives; a server that stops reading blocks the pump in a write
// that fails after writeTimeout, or the keepalive fails the connection
// first (its PING goes unanswered), or Close closes it: any of them ends
// the wait.
func (k *conn) send(w outLine) error { return k.sendCtx(context.Background(), w) }

// sendCtx is send, also ending when ctx does.
func (k *conn) sendCtx(ctx context.Context, w outLine) error {
	select {
	case <-k.dead:
		return k.failure()
	default:
	}
	select {
	case k.out <- w:
		return nil
	case <-k.dead:
		return k.failure()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// trySend queues w if there is room, for the keepalive timer, which must
// not wait (it runs on the clock's goroutine).
func (k *conn) trySend(w outLine) bool {
	select {
	case k.out <- w:
		return true
	default:
		return false
	}
}

// handle acts on one line from the server; an error ends the connection
// with it. Every field of the line is the server's, and untrusted: any
// parameter may be missing.
func (k *conn) handle(l Line) error {
	switch l.Command {
	case "PING":
		if err := k.send(outLine{line: Line{Command: "PONG", Params: l.Params, Trailing: l.Trailing}.String()}); err != nil {
			return err
		}
	case "PRIVMSG":
		m, ok := k.message(l)
		if !ok {
			return nil
		}
		if k.echo && k.same(m.UserName, k.Identity().UserName) {
			k.echoed()
		}
		select {
		case k.in <- m:
		case <-k.dead:
			return k.failure()
		}
	case "PONG":
		k.proved(l.Last())
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
	case "404", // ERR_CANNOTSENDTOCHAN: moderated, banned, no colours, …
		"442", // ERR_NOTONCHANNEL
		"482", // ERR_CHANOPRIVSNEEDED (some servers, for moderated channels)
		"489", // ERR_SECUREONLYCHAN, or voice needed
		"477", // ERR_NEEDREGGEDNICK: only registered nicks may speak
		"403", // ERR_NOSUCHCHANNEL
		"401", // ERR_NOSUCHNICK: no such target
		"408": // ERR_NOCTRLSONCHAN, on ratbox-style servers
		if k.same(l.Param(1), k.channel) {
			k.refused(fmt.Errorf("%w: %s %s: %s", ErrRefused, l.Command, k.channel, l.Last()))
		}
	}
	return nil
}

// refused disproves the oldest post awaiting proof: IRC answers a refused
// PRIVMSG with a numeric, and the server processes our lines in order.
func (k *conn) refused(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, p := range k.probes {
		if p.post {
			k.probes = slices.Delete(k.probes, i, i+1)
			p.result <- err
			return
		}
	}
	k.log.Warn().Err(err).Msg("the server refused a post no longer awaited")
}

// echoed proves the oldest post awaiting its echo.
func (k *conn) echoed() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, p := range k.probes {
		if p.echo {
			k.probes = slices.Delete(k.probes, i, i+1)
			k.lastProof = k.cfg.Clock.Now()
			p.result <- nil
			return
		}
	}
}

// dropProbe forgets p, whose line was never queued.
func (k *conn) dropProbe(p *probe) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if i := slices.Index(k.probes, p); i >= 0 {
		k.probes = slices.Delete(k.probes, i, i+1)
	}
}

// newProbe records a probe sent now and returns its PING token. Callers
// hold k.mu.
func (k *conn) newProbe() *probe {
	k.probeSeq++
	p := &probe{token: pingPrefix + strconv.FormatInt(k.probeSeq, 10), at: k.cfg.Clock.Now()}
	k.probes = append(k.probes, p)
	return p
}

// proved takes a PONG's token: the probe it answers is proven. Tokens
// that are not ours are ignored.
func (k *conn) proved(token string) {
	if !strings.HasPrefix(token, pingPrefix) {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, p := range k.probes {
		if p.token == token {
			k.probes = slices.Delete(k.probes, i, i+1)
			k.lastProof = k.cfg.Clock.Now()
			if p.post {
				p.result <- nil
			}
			return
		}
	}
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

// tick is the keepalive timer. It fails the connection when the server
// has sent nothing for LivenessTimeout, or when it has not answered a PING
// of ours for that long (a server that sends but does not read, or whose
// socket does not take our writes); and it sends a PING when nothing has
// proved for half a PingInterval that the server processes our lines.
func (k *conn) tick() {
	k.mu.Lock()
	if k.reason != nil {
		k.mu.Unlock()
		return
	}
	now := k.cfg.Clock.Now()
	silent := now.Sub(k.lastRecv)
	var unanswered time.Duration
	if len(k.probes) > 0 {
		unanswered = now.Sub(k.probes[0].at)
	}
	if silent >= k.cfg.LivenessTimeout || unanswered >= k.cfg.LivenessTimeout {
		k.mu.Unlock()
		k.log.Warn().Dur("silent", silent).Dur("unanswered", unanswered).Msg("server silent or not answering; closing the connection")
		if silent >= k.cfg.LivenessTimeout {
			k.fail(fmt.Errorf("%w: nothing for %s", ErrSilent, silent))
		} else {
			k.fail(fmt.Errorf("%w: no answer to our PING for %s", ErrSilent, unanswered))
		}
		return
	}
	var ping *probe
	if now.Sub(k.lastProof) >= k.cfg.PingInterval/2 {
		// Recorded even if the queue is full: a PING that cannot even be
		// queued goes unanswered, and fails the connection in time.
		ping = k.newProbe()
	}
	wsPing := k.cfg.WSPingInterval > 0 && now.Sub(k.lastWSPing) >= k.cfg.WSPingInterval
	if wsPing {
		k.lastWSPing = now
	}
	k.keepalive = k.cfg.Clock.AfterFunc(k.cfg.PingInterval, k.tick)
	k.mu.Unlock()
	if ping != nil {
		k.trySend(outLine{line: "PING :" + ping.token})
	}
	if wsPing {
		k.trySend(outLine{wsPing: true})
	}
}

// Read returns the next message to the channel, own posts included (echoed
// by the server with echo-message, else by Post). After the connection
// failed it returns why: the server's ERROR, a kick, ErrSilent, ErrStalled,
// or the transport's error; after Close, chatgateway.ErrConnClosed.
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
// mapped as the package doc says) and waits for proof that the server
// took it: IRC acknowledges nothing, but refuses with a numeric (404
// ERR_CANNOTSENDTOCHAN when the channel is moderated or we are banned or
// muted, 442, 482, 489, 477, …), and processes a client's lines in order.
// With echo-message the server's echo is the proof; without it, a PING
// with a unique token written right after the PRIVMSG, whose PONG comes
// after any refusal of it.
//
// A refused post fails with an error wrapping ErrRefused, neither
// chatgateway.ErrRejected nor ErrPermanent: such refusals come from the
// channel's modes and bans, which change, so the gateway is to reconnect
// and post again, with backoff. Post waits at most until ctx ends (it
// then returns ctx's error; the post may still appear) or until the
// connection fails: a server that answers nothing fails it within
// LivenessTimeout.
//
// With echo-message the echo brings the message back to Read, and Post
// returns 0 for its id, unknown until then; without it Post hands Read the
// echo itself once proven and returns its id. Blank text, text with other
// line breaks and plain text in a frame's wire form are refused with
// errors wrapping chatgateway.ErrRejected; text over
// Limits().MaxMessageLen with chatgateway.ErrMessageTooLong.
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
	w := outLine{line: "PRIVMSG " + k.channel + " :" + wire}
	k.mu.Lock()
	var p *probe
	if k.echo {
		p = &probe{at: k.cfg.Clock.Now(), echo: true}
		k.probes = append(k.probes, p)
	} else {
		p = k.newProbe()
		w.then = "PING :" + p.token
	}
	p.post, p.result = true, make(chan error, 1)
	k.mu.Unlock()
	if err := k.sendCtx(ctx, w); err != nil {
		k.dropProbe(p)
		if ctx.Err() != nil {
			return 0, err
		}
		return 0, k.postErr(err)
	}
	select {
	case err := <-p.result:
		if err != nil {
			return 0, err
		}
	case <-k.dead:
		return 0, k.postErr(k.failure())
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if k.echo {
		return 0, nil
	}
	m := messages.ChatMessage{ID: k.d.ids.Add(1), UserID: self.UserID, UserName: self.UserName, Account: self.Account,
		Text: text, Time: k.cfg.Clock.Now()}
	select {
	case k.in <- m:
	case <-k.dead:
	case <-ctx.Done():
	}
	return m.ID, nil
}

// postErr is what Post returns when the connection failed under it.
func (k *conn) postErr(err error) error {
	select {
	case <-k.done:
		return chatgateway.ErrConnClosed
	default:
	}
	return fmt.Errorf("ircws: posting: %w", err)
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

// Close stops the keepalive, lets the write pump send QUIT if it can
// within quitTimeout, closes the transport (whatever the pump is stuck
// on) and waits for both goroutines: it returns within about quitTimeout
// even when the server reads nothing. It is idempotent and returns nil.
func (k *conn) Close() error {
	k.closeOnce.Do(func() {
		k.mu.Lock()
		t := k.keepalive
		k.keepalive = nil
		k.mu.Unlock()
		if t != nil {
			t.Stop()
		}
		close(k.done)
		quit := time.NewTimer(quitTimeout)
		select {
		case <-k.pumpDone:
		case <-quit.C:
		}
		quit.Stop()
		k.fail(chatgateway.ErrConnClosed)
		<-k.pumpDone
		<-k.readerDone
	})
	return nil
}
