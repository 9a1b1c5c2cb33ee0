package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/messages"
)

// startPeers starts one instance per account on a server where each has
// its own (IRC, Matrix), instance i on dial(i), each trusting trusted: the
// first answers commands, every one serves beverages. It returns once all
// are connected, and the nodes it started also on error, for closing.
func startPeers(ctx context.Context, cfg config, accounts, trusted []string, dial func(i int) (chatgateway.Dialer, error)) ([]*socketscience.Node, error) {
	var nodes []*socketscience.Node
	for i, account := range accounts {
		d, err := dial(i)
		if err != nil {
			return nodes, err
		}
		var node *socketscience.Node
		opts := []socketscience.Option{socketscience.WithLogger(cfg.log.With().Str("instance", account).Logger()),
			socketscience.WithTrustedAccounts(trusted...)}
		if i == 0 {
			opts = append(opts, socketscience.WithChatHandler(func(ctx context.Context, m messages.ChatMessage) {
				answerCommand(ctx, node, m)
			}))
		}
		if node, err = socketscience.New(d, opts...); err != nil {
			return nodes, err
		}
		nodes = append(nodes, node)
		name := instanceName(i)
		if _, err := socketscience.Handle(node, "beverage", func(ctx context.Context, b Beverage) error {
			return node.Post(ctx, fmt.Sprintf("[ %s | %s ] *serves another %s*", botName, name, b.Type))
		}); err != nil {
			return nodes, err
		}
	}
	for _, n := range nodes {
		if err := n.WaitConnected(ctx); err != nil {
			return nodes, err
		}
	}
	return nodes, nil
}

// actOut has you type !!/coffee (and !!/tea when headless, then counts the
// distinct servings), or what is typed on in until ctx ends, and prints
// what is said in the room.
func actOut(ctx context.Context, cfg config, in io.Reader, out io.Writer, you chatgateway.Conn, hint string) error {
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
				if seen[m.Text] = true; len(seen) == want {
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
		fmt.Fprintf(out, "%s and type !!/coffee or !!/tea, or type here; Ctrl-C ends.\n", hint)
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
	return nil
}
