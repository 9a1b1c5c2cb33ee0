// Command demo acts out SocketScience's beverage example: several bot
// instances share one Stack Exchange chat room, each over its own
// WebSocket; when someone types !!/coffee or !!/tea, the active instance
// sends a "beverage" payload and every instance serves one.
//
// By default the room is on a local, protocol-faithful chat server
// (sechattest) on loopback, whose room page you can open in a browser:
//
//	go run ./cmd/demo -headless   # act it out, print the transcript and "served 6/6"
//	go run ./cmd/demo             # act it out, then keep going: type !!/coffee in the browser or here
//
// Beside the room's URL it prints a live status page of the room's
// instances and its Prometheus /metrics, /healthz and /readyz, served on
// -status-addr (status.go).
//
// With -se-room, the instances join a real Stack Exchange chat room instead,
// logging in with SE_EMAIL and SE_PASSWORD. With -irc (and -channel), they
// join a channel on a real IRC server, each under its own nick. With
// -matrix (and -room), they join a room on a Matrix homeserver, each as its
// own account (matrix.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience/chatgateway/sechat"
)

func main() {
	cfg := config{}
	flag.IntVar(&cfg.nodes, "nodes", 3, "how many bot instances to run")
	flag.BoolVar(&cfg.headless, "headless", false, "act the scenario out without input, print a summary and exit (non-zero if an instance failed to serve)")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "headless: how long to wait for every instance to serve")
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:0", "address of the local chat server (a fixed port keeps the room's URL)")
	flag.StringVar(&cfg.statusAddr, "status-addr", "127.0.0.1:0", "address of the demo's /metrics, /healthz, /readyz and live status pages (local server only)")
	flag.Int64Var(&cfg.seRoom, "se-room", 0, "join this room on a real Stack Exchange chat server instead (credentials from SE_EMAIL and SE_PASSWORD)")
	flag.StringVar(&cfg.seHost, "se-host", sechat.DefaultHost, "the Stack Exchange chat server for -se-room")
	ircFlags(&cfg)
	matrixFlags(&cfg)
	verbose := flag.Bool("v", false, "log what the nodes do to stderr")
	flag.Parse()
	cfg.log = zerolog.Nop()
	if *verbose {
		cfg.log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).With().Timestamp().Logger()
	}
	cfg.seEmail, cfg.sePassword = os.Getenv("SE_EMAIL"), os.Getenv("SE_PASSWORD")
	if err := cfg.check(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
