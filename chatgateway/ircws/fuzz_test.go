package ircws

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/socketscience/socketscience/supervisor/fakeclock"
)

// nopTransport stands in for the socket when fuzzing the handlers: the
// lines come from the fuzzer, and what the handlers write goes nowhere.
type nopTransport struct{}

func (nopTransport) readLine() (string, error)         { return "", io.EOF }
func (nopTransport) writeLine(string, time.Time) error { return nil }
func (nopTransport) ping(time.Time) error              { return nil }
func (nopTransport) setReadDeadline(time.Time) error   { return nil }
func (nopTransport) close() error                      { return nil }
func (nopTransport) subprotocol() string               { return "" }

func fuzzDialer(t *testing.T) *Dialer {
	d, err := NewDialer(Config{URL: "irc://127.0.0.1:1", Channel: "#bots", Nick: "n", SASLUser: "a", SASLPassword: "p",
		WaitForNicks: []string{"peer"}, Clock: fakeclock.New(time.Unix(1e9, 0))})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// serverScripts are seeds for the handler fuzz targets: what servers send,
// one line per "\n".
var serverScripts = []string{
	"CAP * LS :sasl echo-message message-tags server-time\nCAP * ACK :sasl echo-message\nAUTHENTICATE +\n:s 903 n :ok\n:s 001 n :hi\n:s 005 n LINELEN=1024 CASEMAPPING=ascii :are supported\n:s 422 n :no motd\n:n!u@h JOIN #bots\n:s 353 n = #bots :@n peer\n:s 366 n #bots :end",
	"CAP * LS * :sasl\nCAP * LS :echo-message\nCAP * NAK :sasl\n:s 433 * n :in use\n:s 432 * n_ :bad",
	"464\n465\n432\n904\n005\n001\n353\n366\nCAP\nCAP * LS\nCAP * ACK\nJOIN\nPRIVMSG\nPING\nNICK",
	":s 001 n :hi\n:s 376 n :end\n:n!u@h JOIN #bots\n:x!y@z PRIVMSG #bots :. \x021234QUJD\x03\n:s 366 n #bots :end\n:s 404 n #bots :Cannot send to channel",
	":x!y@z PRIVMSG #bots :hello\n:n!u@h NICK :Guest123\n:s 404\n404\n:s 404 Guest123 #bots :no\nPING :x\n:s 482 n #bots :need ops\n:op!o@h KICK #bots n :bye",
	"@time=2024-05-06T07:08:09.123Z :Other!o@h PRIVMSG #Bots :. \x0f0123456789abcdef 1/2 . \x021234QUJ\n:s PONG s :ss-1\nERROR :closing",
}

// Whatever the server sends during registration, the state machine
// neither crashes nor writes a line the server could have split.
func FuzzRegistration(f *testing.F) {
	for _, s := range serverScripts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script string) {
		r := fuzzDialer(t).newRegistration()
		for _, raw := range strings.Split(script, "\n") {
			l, err := ParseLine(raw)
			if err != nil {
				continue
			}
			out, done, err := r.handle(l)
			for _, o := range out {
				if strings.ContainsAny(o, "\r\n") {
					t.Fatalf("line %q made the client write %q", raw, o)
				}
			}
			if done || err != nil {
				break
			}
		}
		if r.buffered > MaxRegistrationBuffer || len(r.reg.early) > MaxEarlyMessages {
			t.Fatalf("registration holds %d bytes, %d messages", r.buffered, len(r.reg.early))
		}
		if !validNick(r.reg.nick) {
			t.Fatalf("registered nick %q", r.reg.nick)
		}
		if r.reg.lineLen < 512 || r.reg.lineLen > maxLineBytes {
			t.Fatalf("line length %d", r.reg.lineLen)
		}
	})
}

// Whatever the server sends once joined, the connection's line handling
// neither crashes nor hands Read a message that did not come from the
// channel.
func FuzzConnLines(f *testing.F) {
	for _, s := range serverScripts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script string) {
		d := fuzzDialer(t)
		k := d.connState(nopTransport{}, &registered{nick: "n", caps: map[string]bool{"echo-message": true}, lineLen: 512})
		// Posts awaiting proof, for echoes, PONGs and refusals to settle.
		for range 3 {
			k.probes = append(k.probes, &probe{at: k.cfg.Clock.Now(), post: true, echo: true, result: make(chan error, 1)})
			p := k.newProbe()
			p.post, p.result = true, make(chan error, 1)
		}
		for _, raw := range strings.Split(script, "\n") {
			l, err := ParseLine(raw)
			if err != nil {
				continue
			}
			err = k.handle(l)
			for len(k.out) > 0 { // no pump runs: what handle wrote goes nowhere
				<-k.out
			}
			for len(k.in) > 0 {
				m := <-k.in
				if m.UserName == "" {
					t.Fatalf("line %q: message without a sender", raw)
				}
			}
			if err != nil {
				break
			}
		}
		if len(k.probes) > 6 {
			t.Fatalf("%d probes await proof, of 6 made", len(k.probes))
		}
	})
}
