package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway/ircws"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/presence"
)

// ircFlags adds -irc and -channel: act the scenario out in a channel of a
// real IRC server instead of the local Stack Exchange chat server.
func ircFlags(cfg *config) {
	flag.StringVar(&cfg.irc, "irc", "", "run on this IRC server instead, over WebSocket (ws://127.0.0.1:8097/) or TCP (irc://127.0.0.1:6667)")
	flag.StringVar(&cfg.ircChannel, "channel", "#bots", "the IRC channel for -irc")
}

// runOnIRC starts the instances in cfg.ircChannel, each under its own nick
// (smokey-alpha, smokey-bravo, …), and a connection for "you" that types
// !!/coffee and !!/tea (headless) or what you type here, and prints the
// channel. IRC has no account the instances could share, as
// SmokeDetector's share one on Stack Exchange chat, so each trusts the
// accounts (nicks) of all the instances.
func runOnIRC(ctx context.Context, cfg config, in io.Reader, out io.Writer) error {
	nicks := make([]string, cfg.nodes)
	for i := range nicks {
		nicks[i] = "smokey-" + instanceName(i)
	}
	trusted := ircws.TrustedAccounts(1, nicks...)
	var nodes []*socketscience.Node
	defer func() { closeAll(nodes, out) }()
	cl := newCluster(presence.FastTimings(), cfg.log)
	defer cl.close()
	for i, nick := range nicks {
		log := cfg.log.With().Str("instance", nick).Logger()
		d, err := ircws.NewDialer(ircws.Config{URL: cfg.irc, Channel: cfg.ircChannel, Nick: nick, Logger: &log})
		if err != nil {
			return err
		}
		var node *socketscience.Node
		name := instanceName(i)
		opts := []socketscience.Option{socketscience.WithLogger(log), socketscience.WithTrustedAccounts(trusted...),
			socketscience.WithNodeID(name),
			socketscience.WithChatHandler(func(ctx context.Context, m messages.ChatMessage) { cl.command(ctx, name, node, m) })}
		node, err = socketscience.New(d, opts...)
		if err != nil {
			return err
		}
		nodes = append(nodes, node)
		if err := cl.add(name, node, log); err != nil {
			return err
		}
		if _, err := socketscience.Handle(node, "beverage", func(ctx context.Context, b Beverage) error {
			return node.Post(ctx, fmt.Sprintf("[ %s | %s ] *serves another %s*", botName, name, b.Type))
		}); err != nil {
			return err
		}
	}
	for _, n := range nodes {
		if err := n.WaitConnected(ctx); err != nil {
			return err
		}
	}
	d, err := ircws.NewDialer(ircws.Config{URL: cfg.irc, Channel: cfg.ircChannel, Nick: humanName, DisableEchoMessage: true})
	if err != nil {
		return err
	}
	you, err := d.Dial(ctx)
	if err != nil {
		return err
	}
	defer you.Close()
	fmt.Fprintf(out, "%d instances of %s joined %s on %s, each under its own nick.\n", len(nodes), botName, cfg.ircChannel, cfg.irc)
	if err := announce(ctx, cfg, cl, out); err != nil {
		return err
	}

	want := cfg.nodes * 2
	var mu sync.Mutex
	seen := map[string]bool{}
	all := make(chan struct{})
	followed := make(chan struct{})
	go func() { // ends when you is closed
		defer close(followed)
		for {
			m, err := you.Read()
			if err != nil {
				return
			}
			printIRC(out, m)
			if strings.Contains(m.Text, "*serves another ") {
				mu.Lock()
				seen[m.Text] = true
				if len(seen) == want {
					close(all)
				}
				mu.Unlock()
			}
		}
	}()
	defer func() { you.Close(); <-followed }()
	say := func(text string) {
		if _, err := you.Post(ctx, text); err != nil {
			fmt.Fprintln(out, "posting:", err)
		}
	}
	say("!!/coffee")
	if !cfg.headless {
		fmt.Fprintf(out, "Join %s with any IRC client and type !!/coffee or !!/tea (or !!/failover), or type here; Ctrl-C ends.\n", cfg.ircChannel)
		readLines(ctx, in, say)
		<-ctx.Done()
		return nil
	}
	say("!!/tea")
	tctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	select {
	case <-all:
	case <-tctx.Done():
	}
	mu.Lock()
	got := len(seen)
	mu.Unlock()
	fmt.Fprintf(out, "served %d/%d\n", got, want)
	if got != want {
		return fmt.Errorf("%d of %d servings missing", want-got, want)
	}
	return cl.failover(ctx, say, cfg.timeout, out)
}

func printIRC(out io.Writer, m messages.ChatMessage) {
	text := m.Text
	if presenceOnly(text) {
		return
	}
	if f, err := messages.Split(text); err == nil {
		types := make([]string, len(f.Types))
		for i, t := range f.Types {
			types[i] = t.Type
		}
		text = fmt.Sprintf("(SocketScience frame, %d bytes: %s)", len(m.Text), strings.Join(types, ", "))
	} else if messages.Classify(text) == messages.KindFragment {
		text = fmt.Sprintf("(SocketScience fragment, %d bytes)", len(m.Text))
	}
	fmt.Fprintf(out, "  %-15s %s\n", m.UserName+":", text)
}
