package ircws_test

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/messages"
)

// transports are the ways the fake server listens: every defect test that
// concerns the connection runs over both.
var transports = []string{"tcp", "ws"}

// fakeServer is a scriptable IRC server on loopback, over plain TCP
// ("tcp") or WebSocket ("ws", one line per message as InspIRCd sends).
// Each accepted connection is a srvConn that the test drives line by
// line: it can complete registration and then misbehave on cue (stop
// reading, flood, refuse posts).
type fakeServer struct {
	t     *testing.T
	URL   string
	conns chan *srvConn

	mu     sync.Mutex
	all    []*srvConn
	closed bool
}

func newFakeServer(t *testing.T, kind string) *fakeServer {
	t.Helper()
	s := &fakeServer{t: t, conns: make(chan *srvConn, 64)}
	switch kind {
	case "tcp":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		s.URL = "irc://" + l.Addr().String()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				if sc := s.add(&tcpLines{c: c, r: bufio.NewReaderSize(c, 64<<10)}); sc != nil {
					s.conns <- sc
				}
			}
		}()
		t.Cleanup(func() {
			_ = l.Close()
			<-done
			s.closeAll()
		})
	case "ws":
		up := websocket.Upgrader{Subprotocols: []string{"text.ircv3.net"}, ReadBufferSize: 64 << 10}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			sc := s.add(&wsLines{ws: ws})
			if sc == nil {
				return
			}
			s.conns <- sc
			<-sc.closed // the handler lives as long as the connection
		}))
		s.URL = "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
		t.Cleanup(func() {
			s.closeAll()
			srv.Close()
		})
	default:
		t.Fatalf("unknown transport %q", kind)
	}
	return s
}

func (s *fakeServer) add(lc lineConn) *srvConn {
	sc := &srvConn{t: s.t, lc: lc, lines: make(chan string, 4096), closed: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = lc.close()
		return nil
	}
	s.all = append(s.all, sc)
	sc.wg.Add(1)
	go sc.readLoop()
	return sc
}

func (s *fakeServer) closeAll() {
	s.mu.Lock()
	s.closed = true
	all := s.all
	s.mu.Unlock()
	for _, sc := range all {
		sc.close()
	}
}

// accept returns the next connection a client made.
func (s *fakeServer) accept() *srvConn {
	s.t.Helper()
	select {
	case sc := <-s.conns:
		return sc
	case <-time.After(wait):
		s.t.Fatal("no client connected")
		return nil
	}
}

type lineConn interface {
	readLine() (string, error)
	writeLine(string) error
	close() error
}

type tcpLines struct {
	c net.Conn
	r *bufio.Reader
}

func (l *tcpLines) readLine() (string, error) {
	s, err := l.r.ReadString('\n')
	return strings.TrimRight(s, "\r\n"), err
}
func (l *tcpLines) writeLine(s string) error { _, err := l.c.Write([]byte(s + "\r\n")); return err }
func (l *tcpLines) close() error             { return l.c.Close() }

type wsLines struct{ ws *websocket.Conn }

func (l *wsLines) readLine() (string, error) {
	_, b, err := l.ws.ReadMessage()
	return string(b), err
}
func (l *wsLines) writeLine(s string) error {
	return l.ws.WriteMessage(websocket.TextMessage, []byte(s))
}
func (l *wsLines) close() error { return l.ws.Close() }

// srvConn is the server's side of one client connection.
type srvConn struct {
	t      *testing.T
	lc     lineConn
	lines  chan string // what the client sent, in order
	deaf   atomic.Bool // stop reading from the client
	wmu    sync.Mutex
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup // the reader and any floods
}

func (sc *srvConn) readLoop() {
	defer sc.wg.Done()
	defer close(sc.lines)
	for !sc.deaf.Load() {
		l, err := sc.lc.readLine()
		if err != nil {
			return
		}
		select {
		case sc.lines <- l:
		case <-sc.closed:
			return
		}
	}
	<-sc.closed
}

// stopReading makes the server read nothing more from the client (after
// at most the line it is reading now): the client's writes then back up.
func (sc *srvConn) stopReading() { sc.deaf.Store(true) }

func (sc *srvConn) close() {
	sc.once.Do(func() {
		close(sc.closed)
		_ = sc.lc.close()
	})
	sc.wg.Wait()
}

// send writes lines to the client; it reports the first error.
func (sc *srvConn) send(lines ...string) error {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	for _, l := range lines {
		if err := sc.lc.writeLine(l); err != nil {
			return err
		}
	}
	return nil
}

func (sc *srvConn) mustSend(lines ...string) {
	sc.t.Helper()
	require.NoError(sc.t, sc.send(lines...))
}

// flood writes line to the client, over and over, until a write fails or
// the connection is closed; it returns at once. The count of lines
// written is in *n.
func (sc *srvConn) flood(line string, n *atomic.Int64) {
	sc.wg.Add(1)
	go func() {
		defer sc.wg.Done()
		for {
			select {
			case <-sc.closed:
				return
			default:
			}
			if sc.send(line) != nil {
				return
			}
			if n != nil {
				n.Add(1)
			}
		}
	}()
}

// expect returns the next line the client sent that starts with prefix,
// skipping others.
func (sc *srvConn) expect(prefix string) string {
	sc.t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case l, ok := <-sc.lines:
			require.True(sc.t, ok, "connection closed while waiting for %q", prefix)
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			sc.t.Fatalf("client sent no %q", prefix)
		}
	}
}

// register plays the server up to the end of the MOTD: caps offered (none
// asked for if empty), then 001, extra (ISUPPORT and such) and 422. It
// returns the nick.
func (sc *srvConn) register(caps string, extra ...string) string {
	sc.t.Helper()
	sc.expect("CAP LS 302")
	nick := strings.TrimPrefix(sc.expect("NICK "), "NICK ")
	sc.expect("USER ")
	sc.mustSend("CAP * LS :" + caps)
	if caps != "" {
		req := sc.expect("CAP REQ :")
		sc.mustSend("CAP * ACK :" + strings.TrimPrefix(req, "CAP REQ :"))
	}
	sc.expect("CAP END")
	sc.mustSend(":irc.test 001 " + nick + " :Welcome")
	sc.mustSend(extra...)
	sc.mustSend(":irc.test 422 " + nick + " :No MOTD")
	return nick
}

// join answers the client's JOIN as user@h and ends the names list.
func (sc *srvConn) join(nick string) string {
	sc.t.Helper()
	ch := strings.Fields(sc.expect("JOIN "))[1]
	sc.mustSend(":"+nick+"!u@h JOIN :"+ch, ":irc.test 353 "+nick+" = "+ch+" :@"+nick,
		":irc.test 366 "+nick+" "+ch+" :End of /NAMES list.")
	return ch
}

// welcome is register and join with the default caps.
func (sc *srvConn) welcome(caps string) string {
	sc.t.Helper()
	nick := sc.register(caps)
	sc.join(nick)
	return nick
}

// readWithin is Read, failing the test if it does not return in time (the
// Read goroutine ends when the test's cleanup closes the connection).
func readWithin(t *testing.T, c chatgateway.Conn) (messages.ChatMessage, error) {
	t.Helper()
	type read struct {
		m   messages.ChatMessage
		err error
	}
	ch := make(chan read, 1)
	go func() {
		m, err := c.Read()
		ch <- read{m, err}
	}()
	select {
	case r := <-ch:
		return r.m, r.err
	case <-time.After(wait):
		t.Fatal("Read did not return")
		return messages.ChatMessage{}, nil
	}
}

// await is expect without failing: false if the client hung up first.
func (sc *srvConn) await(prefix string) bool {
	sc.t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case l, ok := <-sc.lines:
			if !ok {
				return false
			}
			if strings.HasPrefix(l, prefix) {
				return true
			}
		case <-timeout:
			sc.t.Fatalf("client sent no %q", prefix)
		}
	}
}

// respond answers every line the client sends with what fn returns, from
// now on, in a goroutine of its own.
func (sc *srvConn) respond(fn func(line string) []string) {
	sc.wg.Add(1)
	go func() {
		defer sc.wg.Done()
		for l := range sc.lines {
			if sc.send(fn(l)...) != nil {
				return
			}
		}
	}()
}

// pong is the server's answer to the client's PING, if line is one.
func pong(line string) []string {
	if tok, ok := strings.CutPrefix(line, "PING :"); ok {
		return []string{":irc.test PONG irc.test :" + tok}
	}
	return nil
}
