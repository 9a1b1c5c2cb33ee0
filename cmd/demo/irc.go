package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/ircws"
	"github.com/socketscience/socketscience/messages"
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
	nodes, err := startPeers(ctx, cfg, nicks, trusted, func(i int) (chatgateway.Dialer, error) {
		log := cfg.log.With().Str("instance", nicks[i]).Logger()
		return ircws.NewDialer(ircws.Config{URL: cfg.irc, Channel: cfg.ircChannel, Nick: nicks[i], Logger: &log})
	})
	defer func() { closeAll(nodes, out) }()
	if err != nil {
		return err
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
	fmt.Fprintf(out, "%d instances of %s joined %s on %s, each under its own nick; %s is the active one and answers commands.\n",
		len(nodes), botName, cfg.ircChannel, cfg.irc, nicks[0])

	return actOut(ctx, cfg, in, out, you, "Join "+cfg.ircChannel+" with any IRC client")
}

func printIRC(out io.Writer, m messages.ChatMessage) {
	text := m.Text
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
