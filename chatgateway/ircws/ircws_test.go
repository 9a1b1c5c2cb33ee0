package ircws_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/ircws"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
)

const wait = 5 * time.Second

// peer is the server side of one connection, driven line by line.
type peer struct {
	t     *testing.T
	c     net.Conn
	lines chan string
}

// listen starts a one-connection IRC server on loopback; the test drives
// it through the peer that accept returns.
func listen(t *testing.T) (url string, accept func() *peer) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return "irc://" + l.Addr().String(), func() *peer {
		c, err := l.Accept()
		require.NoError(t, err)
		p := &peer{t: t, c: c, lines: make(chan string, 100)}
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer close(p.lines)
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				p.lines <- strings.TrimRight(sc.Text(), "\r")
			}
		}()
		t.Cleanup(func() { c.Close(); <-done })
		return p
	}
}

func (p *peer) send(lines ...string) {
	for _, l := range lines {
		_, err := fmt.Fprintf(p.c, "%s\r\n", l)
		require.NoError(p.t, err)
	}
}

// expect returns the next line the client sent that starts with prefix,
// skipping others.
func (p *peer) expect(prefix string) string {
	p.t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case l, ok := <-p.lines:
			require.True(p.t, ok, "closed while waiting for %q", prefix)
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			p.t.Fatalf("client sent no %q", prefix)
		}
	}
}

// welcome plays a server through registration: caps offered (none asked
// for if empty), the nicks refused with 433 before one is taken, JOIN.
func (p *peer) welcome(caps string, taken int, userHost string) string {
	p.expect("CAP LS 302")
	nick := strings.TrimPrefix(p.expect("NICK "), "NICK ")
	p.expect("USER ")
	p.send("CAP * LS :" + caps)
	if caps != "" {
		req := p.expect("CAP REQ :")
		p.send("CAP * ACK :" + strings.TrimPrefix(req, "CAP REQ :"))
	}
	p.expect("CAP END")
	for range taken {
		p.send(":irc.test 433 * " + nick + " :Nickname is already in use.")
		nick = strings.TrimPrefix(p.expect("NICK "), "NICK ")
	}
	p.send(":irc.test 001 "+nick+" :Welcome", ":irc.test 005 "+nick+" LINELEN=512 :are supported", ":irc.test 422 "+nick+" :No MOTD")
	join := p.expect("JOIN ")
	ch := strings.Fields(join)[1]
	p.send(":"+nick+"!"+userHost+" JOIN :"+ch, ":irc.test 353 "+nick+" = "+ch+" :@"+nick, ":irc.test 366 "+nick+" "+ch+" :End of /NAMES list.")
	return nick
}

type dialed struct {
	c   chatgateway.Conn
	err error
}

func dialAsync(cfg ircws.Config) <-chan dialed {
	ch := make(chan dialed, 1)
	go func() {
		d, err := ircws.NewDialer(cfg)
		if err != nil {
			ch <- dialed{nil, err}
			return
		}
		c, err := d.Dial(context.Background())
		ch <- dialed{c, err}
	}()
	return ch
}

func await(t *testing.T, ch <-chan dialed) chatgateway.Conn {
	t.Helper()
	select {
	case d := <-ch:
		require.NoError(t, d.err)
		t.Cleanup(func() { d.c.Close() })
		return d.c
	case <-time.After(wait):
		t.Fatal("Dial did not return")
		return nil
	}
}

// Two nicks taken: the third try, nick2, is registered, and the identity
// and limits follow it.
func TestNickCollision(t *testing.T) {
	url, accept := listen(t)
	ch := dialAsync(ircws.Config{URL: url, Channel: "#bots", Nick: "smokey"})
	p := accept()
	nick := p.welcome("", 2, "smokey@127.0.0.1")
	c := await(t, ch)
	assert.Equal(t, "smokey2", nick)
	assert.Equal(t, chatgateway.Identity{UserID: ircws.UserID("smokey2"), UserName: "smokey2", Account: "smokey2",
		Room: url + "/#bots"}, c.Identity())
	assert.Equal(t, 510-len(":smokey2!smokey@127.0.0.1 PRIVMSG #bots :"), c.Limits().MaxMessageLen)
	assert.Equal(t, 2*ircws.DefaultPostInterval, c.Limits().PostInterval, "no echo-message: a PING follows each post")
	assert.Equal(t, ircws.DefaultPostBurst, c.Limits().PostBurst)
}

// The server's PING is answered; a PRIVMSG to the channel is read with the
// frame's newline restored, its time from server-time.
func TestPingPongAndRead(t *testing.T) {
	url, accept := listen(t)
	ch := dialAsync(ircws.Config{URL: url, Channel: "#Bots", Nick: "n"})
	p := accept()
	p.welcome("server-time message-tags echo-message", 0, "n@h")
	c := await(t, ch)
	p.send("PING :irc.test.local")
	assert.Equal(t, "PONG :irc.test.local", p.expect("PONG"))
	frame, err := messages.Encode(messages.Payload{"ping": 1})
	require.NoError(t, err)
	p.send(":other!o@h PRIVMSG #bots :\x01ACTION waves\x01", // CTCP: skipped
		":other!o@h PRIVMSG n :private", // not the channel: skipped
		"@time=2024-05-06T07:08:09.123Z :Other!o@h PRIVMSG #bots :"+strings.Replace(frame, ".\n", ". ", 1))
	m, err := c.Read()
	require.NoError(t, err)
	assert.Equal(t, frame, m.Text)
	assert.Equal(t, "Other", m.UserName)
	assert.Equal(t, ircws.UserID("other"), m.UserID)
	assert.Equal(t, time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC), m.Time)
	assert.Positive(t, m.ID)

	// With echo-message, Post waits for the server's echo, which also
	// comes back to Read.
	posted := make(chan error, 1)
	go func() { _, err := c.Post(context.Background(), frame); posted <- err }()
	line := p.expect("PRIVMSG")
	assert.Equal(t, "PRIVMSG #Bots :"+strings.Replace(frame, ".\n", ". ", 1), line)
	p.send(":n!n@h " + line)
	require.NoError(t, <-posted)
	m, err = c.Read()
	require.NoError(t, err)
	assert.Equal(t, frame, m.Text)
	p.send("ERROR :Closing link: (n@h) [Killed]")
	_, err = c.Read()
	assert.ErrorIs(t, err, ircws.ErrServerClosed)
}

// Without echo-message Post echoes locally; refused texts never reach the
// server; a silent server gets PINGs on the clock and then fails Read.
func TestLocalEchoKeepaliveAndLiveness(t *testing.T) {
	url, accept := listen(t)
	clock := fakeclock.New(time.Unix(1e9, 0))
	ch := dialAsync(ircws.Config{URL: url, Channel: "#bots", Nick: "n", Clock: clock,
		PingInterval: 10 * time.Second, LivenessTimeout: 25 * time.Second})
	p := accept()
	p.welcome("", 0, "n@h")
	c := await(t, ch)

	// Without echo-message, the PONG to the PING after the PRIVMSG proves
	// the post.
	type result struct {
		id  int64
		err error
	}
	posted := make(chan result, 1)
	go func() { id, err := c.Post(context.Background(), "hello"); posted <- result{id, err} }()
	p.expect("PRIVMSG #bots :hello")
	token := strings.TrimPrefix(p.expect("PING :"), "PING :")
	p.send(":irc.test PONG irc.test :" + token)
	r := <-posted
	require.NoError(t, r.err)
	id := r.id
	m, err := c.Read()
	require.NoError(t, err)
	assert.Equal(t, messages.ChatMessage{ID: id, UserID: ircws.UserID("n"), UserName: "n", Account: "n", Text: "hello", Time: clock.Now()}, m)

	_, err = c.Post(context.Background(), "two\nlines")
	assert.ErrorIs(t, err, chatgateway.ErrRejected)
	_, err = c.Post(context.Background(), "  ")
	assert.ErrorIs(t, err, chatgateway.ErrRejected)
	_, err = c.Post(context.Background(), strings.Repeat("x", c.Limits().MaxMessageLen+1))
	assert.ErrorIs(t, err, chatgateway.ErrMessageTooLong)

	// The server never answers: a PING each interval, then the deadline.
	clock.Advance(10 * time.Second)
	p.expect("PING ")
	clock.Advance(10 * time.Second)
	p.expect("PING ")
	read := make(chan error, 1)
	go func() { _, err := c.Read(); read <- err }()
	clock.Advance(10 * time.Second)
	select {
	case err := <-read:
		assert.ErrorIs(t, err, ircws.ErrSilent)
	case <-time.After(wait):
		t.Fatal("Read did not fail on a silent server")
	}
	require.NoError(t, c.Close())
	_, err = c.Post(context.Background(), "late")
	assert.ErrorIs(t, err, chatgateway.ErrConnClosed)
}

// Refusals that retrying cannot fix are permanent.
func TestPermanentRefusals(t *testing.T) {
	url, accept := listen(t)
	ch := dialAsync(ircws.Config{URL: url, Channel: "#bots", Nick: "n", Password: "wrong"})
	p := accept()
	p.expect("PASS :wrong")
	p.send(":irc.test 464 * :Password incorrect")
	select {
	case d := <-ch:
		assert.ErrorIs(t, d.err, chatgateway.ErrPermanent)
		assert.ErrorIs(t, d.err, ircws.ErrAuth)
	case <-time.After(wait):
		t.Fatal("Dial did not return")
	}

	ch = dialAsync(ircws.Config{URL: url, Channel: "#bots", Nick: "n", Key: "k"})
	p = accept()
	p.expect("NICK")
	p.send("CAP * LS :", ":irc.test 001 n :hi", ":irc.test 376 n :end")
	assert.Equal(t, "JOIN #bots k", p.expect("JOIN"))
	p.send(":irc.test 475 n #bots :Cannot join channel (incorrect channel key)")
	select {
	case d := <-ch:
		assert.ErrorIs(t, d.err, chatgateway.ErrPermanent)
		assert.ErrorIs(t, d.err, ircws.ErrJoin)
	case <-time.After(wait):
		t.Fatal("Dial did not return")
	}
}

// SASL PLAIN: requested with the other caps, answered with the
// credentials, then CAP END.
func TestSASLPlain(t *testing.T) {
	url, accept := listen(t)
	ch := dialAsync(ircws.Config{URL: url, Channel: "#bots", Nick: "n", SASLUser: "acct", SASLPassword: "pw"})
	p := accept()
	p.expect("USER")
	p.send("CAP * LS :sasl=PLAIN message-tags")
	assert.Equal(t, "CAP REQ :message-tags sasl", p.expect("CAP REQ"))
	p.send("CAP * ACK :message-tags sasl")
	p.expect("AUTHENTICATE PLAIN")
	p.send("AUTHENTICATE +")
	assert.Equal(t, "AUTHENTICATE YWNjdABhY2N0AHB3", p.expect("AUTHENTICATE "))
	p.send(":irc.test 903 n :SASL authentication successful")
	p.expect("CAP END")
	p.send(":irc.test 001 n :hi", ":irc.test 376 n :end")
	p.expect("JOIN #bots")
	p.send(":n!acct@h JOIN #bots", ":irc.test 366 n #bots :end")
	c := await(t, ch)
	assert.Equal(t, "n", c.Identity().UserName)
}

// Over WebSocket: the Origin header InspIRCd requires, both text
// subprotocols offered, one line per message without CR LF.
func TestWebSocketHandshake(t *testing.T) {
	type hello struct {
		origin string
		protos []string
	}
	hellos := make(chan hello, 1)
	up := websocket.Upgrader{Subprotocols: []string{"text.inspircd.org"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hellos <- hello{r.Header.Get("Origin"), websocket.Subprotocols(r)}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		var nick string
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			l, _ := ircws.ParseLine(string(data))
			var out []string
			switch l.Command {
			case "NICK":
				nick = l.Param(0)
			case "USER":
				out = []string{":irc 001 " + nick + " :hi", ":irc 422 " + nick + " :no motd"}
			case "JOIN":
				out = []string{":" + nick + "!u@h JOIN " + l.Param(0), ":irc 366 " + nick + " " + l.Param(0) + " :end"}
			case "PRIVMSG":
				out = []string{":" + nick + "!u@h " + string(data)} // echo, as echo-message would
			case "PING":
				out = []string{":irc PONG irc :" + l.Last()}
			}
			for _, o := range out {
				if ws.WriteMessage(websocket.TextMessage, []byte(o)) != nil {
					return
				}
			}
		}
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
	c := await(t, dialAsync(ircws.Config{URL: url, Channel: "#bots", Nick: "w"}))
	h := <-hellos
	assert.Equal(t, "http://"+strings.TrimPrefix(srv.URL, "http://"), h.origin)
	assert.Equal(t, []string{"text.ircv3.net", "text.inspircd.org"}, h.protos)
	_, err := c.Post(context.Background(), "hi there")
	require.NoError(t, err)
	m, err := c.Read()
	require.NoError(t, err)
	assert.Equal(t, "hi there", m.Text)
	require.NoError(t, c.Close())
	_, err = c.Read()
	assert.ErrorIs(t, err, chatgateway.ErrConnClosed)
}
