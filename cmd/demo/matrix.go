package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/matrix"
	"github.com/socketscience/socketscience/messages"
)

// matrixPasswordEnv names the variable holding the password of the demo's
// Matrix accounts (smokey-alpha, smokey-bravo, …, and you). Defaults to
// botPassword, as the README's recipe creates them.
const matrixPasswordEnv = "MATRIX_PASSWORD"

// matrixFlags adds -matrix and -room: act the scenario out in a room of a
// Matrix homeserver instead of the local Stack Exchange chat server.
func matrixFlags(cfg *config) {
	flag.StringVar(&cfg.matrix, "matrix", "", "run in a room of this Matrix homeserver instead (http://127.0.0.1:8008); accounts smokey-alpha, … and you, password from $"+matrixPasswordEnv)
	flag.StringVar(&cfg.matrixRoom, "room", "#bots:localhost", "the Matrix room for -matrix, by alias (created if missing) or id")
}

// runOnMatrix starts the instances in cfg.matrixRoom, each logged in as its
// own account (@smokey-alpha:server, …) and trusting all of theirs, and a
// connection for "you" that types !!/coffee and !!/tea (headless) or what
// you type here, and prints the room.
func runOnMatrix(ctx context.Context, cfg config, in io.Reader, out io.Writer) error {
	pass := os.Getenv(matrixPasswordEnv)
	if pass == "" {
		pass = botPassword
	}
	dialer := func(user string) (*matrix.Dialer, error) {
		log := cfg.log.With().Str("instance", user).Logger()
		return matrix.NewDialer(matrix.Config{HomeserverURL: cfg.matrix, Room: cfg.matrixRoom, UserID: user,
			Password: pass, Logger: &log})
	}
	yd, err := dialer(humanName)
	if err != nil {
		return err
	}
	if err := ensureRoom(ctx, cfg.matrix, cfg.matrixRoom, pass); err != nil {
		return err
	}
	you, err := yd.Dial(ctx)
	if err != nil {
		return fmt.Errorf("logging in as %s: %w", humanName, err)
	}
	defer you.Close()
	server := strings.SplitN(you.Identity().Account, ":", 2)[1]
	users := make([]string, cfg.nodes)
	trusted := make([]string, cfg.nodes)
	for i := range users {
		users[i] = "smokey-" + instanceName(i)
		trusted[i] = "@" + users[i] + ":" + server
	}
	var nodes []*socketscience.Node
	defer func() { closeAll(nodes, out) }()
	for i, user := range users {
		d, err := dialer(user)
		if err != nil {
			return err
		}
		var node *socketscience.Node
		opts := []socketscience.Option{socketscience.WithLogger(cfg.log.With().Str("instance", user).Logger()),
			socketscience.WithTrustedAccounts(trusted...)}
		if i == 0 {
			opts = append(opts, socketscience.WithChatHandler(func(ctx context.Context, m messages.ChatMessage) {
				answerCommand(ctx, node, m)
			}))
		}
		if node, err = socketscience.New(d, opts...); err != nil {
			return err
		}
		nodes = append(nodes, node)
		name := instanceName(i)
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
	fmt.Fprintf(out, "%d instances of %s joined %s on %s, each as its own account; %s is the active one and answers commands.\n",
		len(nodes), botName, you.Identity().Room, cfg.matrix, trusted[0])
	return actOut(ctx, cfg, in, out, you, "Open the room in any Matrix client as @you (password from $"+matrixPasswordEnv+")")
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

// ensureRoom creates the room as a public one, as the first instance,
// when room is an alias that does not resolve yet.
func ensureRoom(ctx context.Context, url, room, pass string) error {
	local, server, ok := strings.Cut(strings.TrimPrefix(room, "#"), ":")
	if !strings.HasPrefix(room, "#") || !ok {
		return nil
	}
	cli, err := mautrix.NewClient(url, "", "")
	if err != nil {
		return err
	}
	if _, err := cli.ResolveAlias(ctx, id.RoomAlias(room)); err == nil {
		return nil
	} else if !errors.Is(err, mautrix.MNotFound) {
		return fmt.Errorf("resolving %s: %w", room, err)
	}
	if _, err := cli.Login(ctx, &mautrix.ReqLogin{Type: mautrix.AuthTypePassword, StoreCredentials: true,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: "smokey-" + instanceName(0)}, Password: pass}); err != nil {
		return fmt.Errorf("logging in to create %s: %w", room, err)
	}
	defer func() { _, _ = cli.Logout(context.WithoutCancel(ctx)) }()
	_, err = cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: local, Name: "SocketScience demo on " + server})
	return err
}
