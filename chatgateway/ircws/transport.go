package ircws

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// maxLineBytes bounds one received line: IRCv3 allows 8191 bytes of tags
// plus 512 of message; anything longer is refused.
const maxLineBytes = 16 << 10

// transport carries IRC lines: one per WebSocket message, or CR LF
// terminated on a TCP stream. readLine is called from one goroutine;
// writeLine and ping are serialised by the caller; close may be called
// at any time.
type transport interface {
	readLine() (string, error)
	writeLine(line string, deadline time.Time) error
	// ping sends a WebSocket ping; a no-op over TCP.
	ping(deadline time.Time) error
	setReadDeadline(t time.Time) error
	close() error
	// subprotocol is the negotiated WebSocket subprotocol ("" over TCP).
	subprotocol() string
}

func dialTransport(ctx context.Context, cfg *Config) (transport, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("ircws: bad URL: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss":
		return dialWS(ctx, cfg, u)
	case "irc", "tcp", "ircs":
		host := u.Host
		if u.Port() == "" {
			port := "6667"
			if u.Scheme == "ircs" {
				port = "6697"
			}
			host = net.JoinHostPort(u.Hostname(), port)
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", host)
		if err != nil {
			return nil, fmt.Errorf("ircws: dialing %s: %w", host, err)
		}
		if u.Scheme == "ircs" {
			tc := tls.Client(c, &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12})
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = c.Close()
				return nil, fmt.Errorf("ircws: TLS with %s: %w", host, err)
			}
			c = tc
		}
		return &tcpTransport{c: c, r: bufio.NewReaderSize(c, 4096)}, nil
	}
	return nil, fmt.Errorf("ircws: URL scheme %q: want ws, wss, irc or ircs", u.Scheme)
}

func dialWS(ctx context.Context, cfg *Config, u *url.URL) (transport, error) {
	origin := cfg.Origin
	if origin == "" {
		scheme := "http"
		if u.Scheme == "wss" {
			scheme = "https"
		}
		origin = scheme + "://" + u.Host
	}
	d := websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: 10 * time.Second,
		Subprotocols:     cfg.Subprotocols,
		ReadBufferSize:   maxLineBytes,
		WriteBufferSize:  4096,
	}
	ws, resp, err := d.DialContext(ctx, u.String(), http.Header{"Origin": {origin}})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("ircws: WebSocket handshake with %s (Origin %s): HTTP %d: %w", u.Host, origin, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("ircws: dialing %s: %w", u.Host, err)
	}
	ws.SetReadLimit(maxLineBytes)
	return &wsTransport{ws: ws}, nil
}

type wsTransport struct {
	ws      *websocket.Conn
	pending []string // further lines of a message that held several
}

func (t *wsTransport) readLine() (string, error) {
	for len(t.pending) == 0 {
		_, data, err := t.ws.ReadMessage()
		if err != nil {
			return "", err
		}
		// InspIRCd sends one line per message without CR LF; other servers
		// may end it with CR LF or send several.
		for l := range strings.SplitSeq(strings.TrimRight(string(data), "\r\n"), "\n") {
			t.pending = append(t.pending, strings.TrimSuffix(l, "\r"))
		}
	}
	l := t.pending[0]
	t.pending = t.pending[1:]
	return l, nil
}

// writeLine sends the line as one text message: InspIRCd takes one message
// as one line (it strips CR and LF and ends the line itself).
func (t *wsTransport) writeLine(line string, deadline time.Time) error {
	_ = t.ws.SetWriteDeadline(deadline)
	return t.ws.WriteMessage(websocket.TextMessage, []byte(line))
}

func (t *wsTransport) ping(deadline time.Time) error {
	return t.ws.WriteControl(websocket.PingMessage, nil, deadline)
}

func (t *wsTransport) setReadDeadline(d time.Time) error { return t.ws.SetReadDeadline(d) }
func (t *wsTransport) close() error                      { return t.ws.Close() }
func (t *wsTransport) subprotocol() string               { return t.ws.Subprotocol() }

type tcpTransport struct {
	c net.Conn
	r *bufio.Reader
}

var errLineTooLong = errors.New("ircws: received line too long")

func (t *tcpTransport) readLine() (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := t.r.ReadLine()
		if err != nil {
			if err == io.EOF && len(b) > 0 {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		b = append(b, chunk...)
		if len(b) > maxLineBytes {
			return "", errLineTooLong
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

func (t *tcpTransport) writeLine(line string, deadline time.Time) error {
	_ = t.c.SetWriteDeadline(deadline)
	_, err := io.WriteString(t.c, line+"\r\n")
	return err
}

func (t *tcpTransport) ping(time.Time) error              { return nil }
func (t *tcpTransport) setReadDeadline(d time.Time) error { return t.c.SetReadDeadline(d) }
func (t *tcpTransport) close() error                      { return t.c.Close() }
func (t *tcpTransport) subprotocol() string               { return "" }
