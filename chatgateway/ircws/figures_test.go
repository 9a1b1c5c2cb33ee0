package ircws_test

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/ircws"
)

// autoServe plays a misbehaving server on sc without the test goroutine:
// it registers the client, then misbehaves as mode says:
//
//	refuse  answers every PRIVMSG with 404 and every PING with PONG
//	deaf    answers nothing, and PINGs the client every 100 ms
//	flood   floods the channel's PRIVMSGs before the end of NAMES
func autoServe(sc *srvConn, mode string) {
	sc.wg.Add(1)
	go func() {
		defer sc.wg.Done()
		nick := "n"
		for l := range sc.lines {
			f := strings.Fields(l)
			if len(f) == 0 {
				continue
			}
			var out []string
			switch f[0] {
			case "NICK":
				nick = f[1]
			case "USER":
				out = []string{"CAP * LS :"}
			case "CAP":
				if len(f) > 1 && f[1] == "END" {
					out = []string{":irc.test 001 " + nick + " :hi", ":irc.test 422 " + nick + " :no motd"}
				}
			case "JOIN":
				_ = sc.send(":" + nick + "!u@h JOIN " + f[1])
				if mode == "flood" {
					for sc.send(":x!y@z PRIVMSG #bots :"+strings.Repeat("p", 400)) == nil {
					}
					return
				}
				out = []string{":irc.test 366 " + nick + " #bots :end"}
				if mode == "deaf" {
					_ = sc.send(out...)
					tick := time.NewTicker(100 * time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-sc.closed:
							return
						case <-tick.C:
							if sc.send("PING :irc.test") != nil {
								return
							}
						}
					}
				}
			case "PRIVMSG":
				if mode == "refuse" {
					out = []string{":irc.test 404 " + nick + " #bots :Cannot send to channel (+m)"}
				}
			case "PING":
				out = pong(l)
			}
			if sc.send(out...) != nil {
				return
			}
		}
	}()
}

// Figures for the report: how often a node with the default reconnect
// policy dials a server that misbehaves on every connection. Run with
// IRCWS_FIGURES=1.
func TestFiguresDialRate(t *testing.T) {
	if os.Getenv("IRCWS_FIGURES") == "" {
		t.Skip("figures: set IRCWS_FIGURES=1")
	}
	const window = 8 * time.Second
	for _, kind := range transports {
		for _, mode := range []string{"refuse", "deaf", "flood"} {
			t.Run(kind+"/"+mode, func(t *testing.T) {
				srv := newFakeServer(t, kind)
				stop := make(chan struct{})
				served := make(chan struct{})
				go func() {
					defer close(served)
					for {
						select {
						case sc := <-srv.conns:
							autoServe(sc, mode)
						case <-stop:
							return
						}
					}
				}()
				d, err := ircws.NewDialer(ircws.Config{URL: srv.URL, Channel: "#bots", Nick: "n",
					PingInterval: time.Second, LivenessTimeout: 2 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				var dials atomic.Int64
				counting := chatgateway.DialerFunc(func(ctx context.Context) (chatgateway.Conn, error) {
					dials.Add(1)
					return d.Dial(ctx)
				})
				node, err := socketscience.New(counting, socketscience.WithNonBlockingSend())
				if err != nil {
					t.Fatal(err)
				}
				for i := range 6 {
					_ = node.Send(context.Background(), socketscience.Payload{"ping": i})
				}
				time.Sleep(window) // a measurement window, not a wait for an event
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = node.Close(ctx)
				cancel()
				close(stop)
				<-served
				st := node.Stats()
				t.Logf("%s over %s: %d dials in %v = %.2f dials/s; stats %+v", mode, kind, dials.Load(), window,
					float64(dials.Load())/window.Seconds(), st)
			})
		}
	}
}
