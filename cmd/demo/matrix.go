package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/matrix"
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
	nodes, err := startPeers(ctx, cfg, users, trusted, func(i int) (chatgateway.Dialer, error) { return dialer(users[i]) })
	defer func() { closeAll(nodes, out) }()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d instances of %s joined %s on %s, each as its own account; %s is the active one and answers commands.\n",
		len(nodes), botName, you.Identity().Room, cfg.matrix, trusted[0])
	return actOut(ctx, cfg, in, out, you, "Open the room in any Matrix client as @you (password from $"+matrixPasswordEnv+")")
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
