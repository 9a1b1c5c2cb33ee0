package ircws

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/supervisor"
)

// registration is the state machine that takes a new connection from CAP
// LS to the end of the channel's names. Its handle method sees one server
// line at a time and does no I/O, so fuzzing can feed it anything.
// Everything in a line is the server's, and untrusted: a numeric may come
// with no parameters at all.
type registration struct {
	cfg *Config
	d   *Dialer
	reg *registered
	// peers: the nicks Dial waits for → seen in the channel.
	peers   map[string]bool
	offered []string
	// buffered is the bytes of the lines held in offered and reg.early,
	// which MaxRegistrationBuffer bounds.
	buffered int
	sasl     bool
	attempt  int

	welcomed, joining, joined bool
	// waiting: joined, and waiting for peers; startWait is set when the
	// wait begins, for the caller to start the timer that ends it.
	waiting, startWait bool
}

func (d *Dialer) newRegistration() *registration {
	r := &registration{
		cfg:   &d.cfg,
		d:     d,
		reg:   &registered{nick: d.cfg.Nick, caps: map[string]bool{}, lineLen: 512, casemap: rfc1459},
		peers: map[string]bool{},
		sasl:  d.cfg.SASLUser != "",
	}
	for _, n := range d.cfg.WaitForNicks {
		r.peers[n] = false
	}
	return r
}

// hello is what the client sends first.
func (r *registration) hello() []string {
	var lines []string
	if r.cfg.Password != "" {
		lines = append(lines, "PASS :"+r.cfg.Password)
	}
	return append(lines, "CAP LS 302", "NICK "+r.cfg.Nick, "USER "+r.cfg.User+" 0 * :"+r.cfg.RealName)
}

func (r *registration) allPeers() bool {
	for n, in := range r.peers {
		if !in && !r.same(n, r.reg.nick) {
			return false
		}
	}
	return true
}

// sawPeer marks nick as in the channel if Dial waits for it.
func (r *registration) sawPeer(nick string) {
	for n := range r.peers {
		if r.same(n, nick) {
			r.peers[n] = true
		}
	}
}

// same compares nicks or channel names as the server does.
func (r *registration) same(a, b string) bool { return r.reg.casemap.fold(a) == r.reg.casemap.fold(b) }

func (r *registration) isChannel(s string) bool { return r.same(s, r.cfg.Channel) }

// handle takes one line from the server. It returns the lines to send,
// done once registration is complete, or an error that fails Dial.
func (r *registration) handle(l Line) (out []string, done bool, err error) {
	cfg, reg := r.cfg, r.reg
	switch l.Command {
	case "PING":
		out = append(out, Line{Command: "PONG", Params: l.Params, Trailing: l.Trailing}.String())
	case "CAP":
		switch strings.ToUpper(l.Param(1)) {
		case "LS":
			if err := r.buffer(len(l.Last())); err != nil {
				return nil, false, err
			}
			// Copied out of the line, which would otherwise stay in memory
			// whole behind every token.
			r.offered = append(r.offered, strings.Fields(strings.Clone(l.Last()))...)
			if l.Param(2) == "*" && len(l.Params) > 3 {
				return nil, false, nil // more to come
			}
			want := wantedCaps(r.offered, cfg)
			r.offered, r.buffered = nil, r.buffered-r.capBytes()
			if r.sasl && !want["sasl"] {
				return nil, false, chatgateway.Permanent(fmt.Errorf("%w: the server offers no SASL", ErrAuth))
			}
			if len(want) == 0 {
				out = append(out, "CAP END")
			} else {
				out = append(out, "CAP REQ :"+strings.Join(sortedKeys(want), " "))
			}
		case "ACK":
			for _, c := range strings.Fields(l.Last()) {
				reg.caps[strings.TrimPrefix(c, "-")] = !strings.HasPrefix(c, "-")
			}
			if r.sasl && reg.caps["sasl"] {
				out = append(out, "AUTHENTICATE PLAIN")
			} else {
				out = append(out, "CAP END")
			}
		case "NAK":
			if r.sasl {
				return nil, false, chatgateway.Permanent(fmt.Errorf("%w: the server refused the sasl capability", ErrAuth))
			}
			out = append(out, "CAP END")
		}
	case "AUTHENTICATE":
		if r.sasl && l.Param(0) == "+" {
			out = append(out, "AUTHENTICATE "+saslPlain(cfg.SASLUser, cfg.SASLPassword))
		}
	case "903": // RPL_SASLSUCCESS
		out = append(out, "CAP END")
	case "902", "904", "905", "906": // SASL failed or aborted
		return nil, false, chatgateway.Permanent(fmt.Errorf("%w: SASL: %s", ErrAuth, l.Last()))
	case "464": // ERR_PASSWDMISMATCH
		return nil, false, chatgateway.Permanent(fmt.Errorf("%w: %s", ErrAuth, l.Last()))
	case "465": // ERR_YOUREBANNEDCREEP
		return nil, false, chatgateway.Permanent(fmt.Errorf("ircws: banned: %s", l.Last()))
	case "432": // ERR_ERRONEUSNICKNAME
		return nil, false, chatgateway.Permanent(fmt.Errorf("ircws: nick %q refused: %s", reg.nick, l.Last()))
	case "433", "436", "437": // nick in use, collision, temporarily unavailable
		if r.welcomed {
			return nil, false, nil
		}
		r.attempt++
		if r.attempt > MaxNickAttempts {
			return nil, false, fmt.Errorf("ircws: nick %s and %d fallbacks are all taken", cfg.Nick, MaxNickAttempts)
		}
		next := fallbackNick(cfg.Nick, r.attempt)
		r.d.log.Info().Str("taken", reg.nick).Str("nick", next).Msg("nick in use; trying another")
		reg.nick = next
		out = append(out, "NICK "+next)
	case "001": // RPL_WELCOME: its first parameter is the nick we got
		r.welcomed = true
		if n := l.Param(0); validNick(n) {
			reg.nick = n
		}
	case "005": // RPL_ISUPPORT: nick, tokens…, trailing text
		for i := 1; i < len(l.Params); i++ {
			key, v, _ := strings.Cut(l.Params[i], "=")
			switch key {
			case "LINELEN":
				if n, err := strconv.Atoi(v); err == nil && n >= 512 && n <= maxLineBytes {
					reg.lineLen = n
				}
			case "CASEMAPPING":
				m, known := parseCaseMapping(v)
				if !known {
					r.d.log.Warn().Str("casemapping", v).Stringer("folding", m).Msg("unknown CASEMAPPING")
				}
				reg.casemap = m
			}
		}
	case "396": // RPL_VISIBLEHOST
		if h := l.Param(1); h != "" && reg.userHost != "" {
			u, _, _ := strings.Cut(reg.userHost, "@")
			reg.userHost = u + "@" + h
		}
	case "376", "422": // end of MOTD, or none
		if r.welcomed && !r.joining {
			r.joining = true
			join := "JOIN " + cfg.Channel
			if cfg.Key != "" {
				join += " " + cfg.Key
			}
			out = append(out, join)
		}
	case "JOIN":
		if !r.isChannel(l.Param(0)) {
			break
		}
		if nick := l.Nick(); r.same(nick, reg.nick) {
			r.joined = true
			if _, uh, ok := strings.Cut(l.Prefix, "!"); ok {
				reg.userHost = uh
			}
		} else {
			r.sawPeer(nick)
			if r.waiting && r.allPeers() {
				return nil, true, nil
			}
		}
	case "353": // RPL_NAMREPLY: me = #chan :@nick +nick nick
		if r.isChannel(l.Param(2)) {
			for _, n := range strings.Fields(l.Last()) {
				r.sawPeer(strings.TrimLeft(n, "~&@%+"))
			}
		}
	case "PONG":
		if r.waiting && l.Last() == peerWaitToken {
			r.d.log.Warn().Strs("wait_for", cfg.WaitForNicks).Msg("not every peer joined in time; going on")
			return nil, true, nil
		}
	case "366": // RPL_ENDOFNAMES
		if r.joined && r.isChannel(l.Param(1)) && !r.waiting {
			if r.allPeers() {
				return nil, true, nil
			}
			// Wait for the peers' JOINs; at the deadline a PING's PONG
			// ends the wait from within the read loop.
			r.waiting, r.startWait = true, true
		}
	case "403", "405", "471", "473", "474", "475", "476", "477", "489":
		if !r.joining || !r.isChannel(l.Param(1)) {
			break
		}
		err := fmt.Errorf("%w %s: %s %s", ErrJoin, cfg.Channel, l.Command, l.Last())
		switch l.Command {
		case "405", "471": // too many channels, channel full: may pass
			return nil, false, err
		}
		return nil, false, chatgateway.Permanent(err)
	case "PRIVMSG": // the channel's, after our JOIN: kept for Read
		if !r.joined || !r.isChannel(l.Param(0)) {
			break
		}
		if len(reg.early) >= MaxEarlyMessages {
			return nil, false, fmt.Errorf("%w: more than %d channel messages", ErrRegistrationOverflow, MaxEarlyMessages)
		}
		if err := r.buffer(lineBytes(l)); err != nil {
			return nil, false, err
		}
		reg.early = append(reg.early, l)
	case "ERROR":
		return nil, false, fmt.Errorf("%w: %s", ErrServerClosed, l.Param(0))
	}
	return out, false, nil
}

// buffer counts n more bytes held until registration ends.
func (r *registration) buffer(n int) error {
	r.buffered += n
	if r.buffered > MaxRegistrationBuffer {
		return fmt.Errorf("%w: more than %d bytes", ErrRegistrationOverflow, MaxRegistrationBuffer)
	}
	return nil
}

// capBytes is what the offered capabilities hold.
func (r *registration) capBytes() int {
	n := 0
	for _, c := range r.offered {
		n += len(c)
	}
	return n
}

// lineBytes is about what a parsed line holds in memory.
func lineBytes(l Line) int {
	n := len(l.Prefix) + len(l.Command)
	for _, p := range l.Params {
		n += len(p) + 16
	}
	for k, v := range l.Tags {
		n += len(k) + len(v) + 32
	}
	return n
}

// validNick: what the server may name us. A nick it gives (001, NICK) is
// taken only if it could be one, so that a hostile line cannot make us
// post as "" or with spaces in our identity.
func validNick(n string) bool {
	return n != "" && n != "*" && !strings.ContainsAny(n, " \r\n\x00,*?!@:#")
}

func (d *Dialer) register(t transport) (*registered, error) {
	var wmu sync.Mutex
	send := func(l string) error {
		wmu.Lock()
		defer wmu.Unlock()
		return t.writeLine(l, time.Now().Add(writeTimeout))
	}
	r := d.newRegistration()
	var waitTimer supervisor.Timer
	defer func() {
		if waitTimer != nil {
			waitTimer.Stop()
		}
	}()
	for _, l := range r.hello() {
		if err := send(l); err != nil {
			return nil, fmt.Errorf("ircws: registering: %w", err)
		}
	}
	for {
		raw, err := t.readLine()
		if err != nil {
			return nil, fmt.Errorf("ircws: registering as %s: %w", r.reg.nick, err)
		}
		l, err := ParseLine(raw)
		if err != nil {
			continue
		}
		out, done, err := r.handle(l)
		if err != nil {
			return nil, err
		}
		if done {
			return r.reg, nil
		}
		if r.startWait {
			r.startWait = false
			waitTimer = d.cfg.Clock.AfterFunc(d.cfg.WaitForNicksTimeout, func() { _ = send("PING :" + peerWaitToken) })
		}
		for _, o := range out {
			if err := send(o); err != nil {
				return nil, fmt.Errorf("ircws: registering: %w", err)
			}
		}
	}
}
