// Command demo acts out SocketScience's beverage example: several bot
// instances share one chat room (an in-process one by default); when
// someone types !!/coffee or !!/tea, the active instance sends a "beverage"
// payload and every instance serves one.
//
//	go run ./cmd/demo -headless   # act it out, print the transcript and "served 6/6"
//	go run ./cmd/demo             # type !!/coffee or !!/tea yourself; Ctrl-D ends
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/rs/zerolog"
)

func main() {
	cfg := config{}
	flag.IntVar(&cfg.nodes, "nodes", 3, "how many bot instances to run")
	flag.BoolVar(&cfg.headless, "headless", false, "act the scenario out without input, print a summary and exit (non-zero if an instance failed to serve)")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "headless: how long to wait for every instance to serve")
	verbose := flag.Bool("v", false, "log what the nodes do to stderr")
	flag.Parse()
	cfg.log = zerolog.Nop()
	if *verbose {
		cfg.log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).With().Timestamp().Logger()
	}
	if cfg.nodes < 1 {
		fmt.Fprintln(os.Stderr, "demo: -nodes must be at least 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
