package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway/sechat"
	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
	"github.com/socketscience/socketscience/messages"
)

type config struct {
	nodes    int
	headless bool
	timeout  time.Duration
	addr     string
	// statusAddr is where /metrics, /healthz, /readyz and the status
	// pages are served (status.go).
	statusAddr string
	log        zerolog.Logger

	seRoom              int64
	seHost              string
	seEmail, sePassword string

	irc, ircChannel string // -irc, -channel: see irc.go

	matrix, matrixRoom string // -matrix, -room: see matrix.go
}

func (c config) check() error {
	switch {
	case c.nodes < 1:
		return errors.New("-nodes must be at least 1")
	case c.seRoom != 0 && (c.seEmail == "" || c.sePassword == ""):
		return errors.New("-se-room needs the bot account's SE_EMAIL and SE_PASSWORD in the environment")
	case c.seRoom != 0 && c.headless:
		return errors.New("-headless acts the scenario out on the local server; it cannot type in a real room")
	}
	return nil
}

// Beverage is the payload of the "beverage" message type, as SmokeDetector
// sends it.
type Beverage struct {
	MessageID int64  `json:"message_id"`
	Type      string `json:"beverage_type"`
}

var instanceNames = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}

func instanceName(i int) string {
	if i < len(instanceNames) {
		return instanceNames[i]
	}
	return fmt.Sprintf("instance%d", i+1)
}

// The local server's accounts: all instances share the bot's, as
// SmokeDetector's do.
const (
	botName, botEmail, botPassword = "SmokeDetector", "smokey@example.com", "demo-password"
	humanName                      = "you"
)

func run(ctx context.Context, cfg config, in io.Reader, out io.Writer) error {
	if cfg.seRoom != 0 {
		return runOnStackExchange(ctx, cfg, out)
	}
	if cfg.irc != "" {
		return runOnIRC(ctx, cfg, in, out)
	}
	if cfg.matrix != "" {
		return runOnMatrix(ctx, cfg, in, out)
	}
	srv, err := sechattest.NewServerAt(cfg.addr)
	if err != nil {
		return err
	}
	defer srv.Close()
	room := srv.AddRoom("SocketScience demo")
	bot := srv.AddUser(botName, botEmail, botPassword)
	human := srv.AddUser(humanName, "you@example.com", "")
	base := sechat.Config{BaseURL: srv.URL, Email: botEmail, Password: botPassword}

	rt, err := socketscience.NewRuntime(socketscience.WithRuntimeLogger(cfg.log))
	if err != nil {
		return err
	}
	defer closeRuntime(rt, out)
	status, err := newStatusServer(cfg.statusAddr, rt)
	if err != nil {
		return err
	}
	defer status.Close()
	rs := status.addRoom(fmt.Sprint(room.ID), "SocketScience demo", srv.RoomURL(room.ID), srv, room.ID, bot.ID)

	nodes, err := startInstances(ctx, cfg, rt, rs, status, base, room.ID)
	defer closeAll(nodes, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Room: %s\n", srv.RoomURL(room.ID))
	fmt.Fprintf(out, "Status: %s\n", status.pageURL(rs))
	fmt.Fprintf(out, "Metrics: %s/metrics (probes: %s/healthz, %s/readyz)\n", status.URL, status.URL, status.URL)
	fmt.Fprintf(out, "%d instances of %s joined it, each over its own WebSocket; %s is the active one and answers commands.\n",
		len(nodes), botName, instanceName(0))

	say := func(text string) { _, _ = srv.Say(room.ID, human.ID, text) }
	if cfg.headless {
		say("!!/coffee")
		say("!!/tea")
		return report(ctx, cfg, srv, room.ID, out)
	}
	printed := 0
	follow := make(chan struct{})
	go func() { // ends with ctx; run waits for it below
		defer close(follow)
		for {
			msgs, err := srv.WaitFor(ctx, room.ID, func(ms []sechattest.Message) bool { return len(ms) > printed })
			if err != nil {
				return
			}
			for _, m := range msgs[printed:] {
				printMessage(out, m)
			}
			printed = len(msgs)
		}
	}()
	say("!!/coffee")
	fmt.Fprintln(out, "Open the room in a browser and type !!/coffee or !!/tea, or type here; Ctrl-C ends.")
	readLines(ctx, in, say)
	<-ctx.Done()
	<-follow
	return nil
}

// readLines posts each line of in until in ends or ctx does.
func readLines(ctx context.Context, in io.Reader, say func(string)) {
	lines := make(chan string)
	go func() { // ends with in; a read of stdin cannot be cancelled
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case line, ok := <-lines:
			if !ok {
				return
			}
			if strings.TrimSpace(line) != "" {
				say(line)
			}
		}
	}
}

// startInstances makes cfg.nodes nodes on rt, the first one active; with
// rs (and status), each feeds the room's status page and the metrics.
func startInstances(ctx context.Context, cfg config, rt *socketscience.Runtime, rs *roomStatus, status *statusServer,
	base sechat.Config, roomID int64) ([]*socketscience.Node, error) {
	var nodes []*socketscience.Node
	for i := range cfg.nodes {
		name := instanceName(i)
		log := cfg.log.With().Str("instance", name).Logger()
		sc := base
		sc.Logger = &log
		// One session per instance, as if each ran on its own machine.
		client, err := sechat.NewClient(sc)
		if err != nil {
			return nodes, err
		}
		var node *socketscience.Node
		// The active instance sends the payload and serves too: nodes
		// handle their own payloads by default.
		opts := []socketscience.Option{socketscience.WithLogger(log)}
		if i == 0 {
			opts = append(opts, socketscience.WithChatHandler(func(ctx context.Context, m messages.ChatMessage) {
				answerCommand(ctx, node, m)
			}))
		}
		attach := func(*socketscience.Node) {}
		if rs != nil {
			var more []socketscience.Option
			more, attach = rs.options(status, name, i == 0)
			opts = append(opts, more...)
		}
		node, err = rt.NewNode(client.Room(roomID), opts...)
		if err != nil {
			return nodes, err
		}
		attach(node)
		nodes = append(nodes, node)
		_, err = socketscience.Handle(node, "beverage", func(ctx context.Context, b Beverage) error {
			// SmokeDetector prefixes what it says with its location.
			return node.Post(ctx, fmt.Sprintf("[ %s | %s ] *serves another %s*", botName, name, b.Type))
		})
		if err != nil {
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

// answerCommand turns "!!/coffee" and "!!/tea" from a person into a
// beverage payload.
func answerCommand(ctx context.Context, node *socketscience.Node, m messages.ChatMessage) {
	if m.UserName == botName || m.Edited {
		return
	}
	kind, ok := strings.CutPrefix(strings.TrimSpace(m.Text), "!!/")
	if !ok || (kind != "coffee" && kind != "tea") {
		return
	}
	_ = node.Send(ctx, socketscience.Payload{"beverage": Beverage{MessageID: m.ID, Type: kind}})
}

func report(ctx context.Context, cfg config, srv *sechattest.Server, roomID int64, out io.Writer) error {
	want := cfg.nodes * 2
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	msgs, _ := srv.WaitFor(ctx, roomID, func(ms []sechattest.Message) bool { return served(ms) >= want })
	if msgs == nil {
		msgs = srv.Messages(roomID)
	}
	for _, m := range msgs {
		printMessage(out, m)
	}
	got := served(msgs)
	fmt.Fprintf(out, "served %d/%d\n", got, want)
	if got != want {
		return fmt.Errorf("%d of %d servings missing", want-got, want)
	}
	return nil
}

// served counts distinct servings, "[ SmokeDetector | alpha ] *serves
// another coffee*", so that an instance serving twice does not make up for
// one that never served.
func served(ms []sechattest.Message) int {
	seen := map[string]bool{}
	for _, m := range ms {
		if m.UserName == botName && strings.Contains(m.Text, "*serves another ") {
			seen[m.Text] = true
		}
	}
	return len(seen)
}

func printMessage(out io.Writer, m sechattest.Message) {
	fmt.Fprintf(out, "  %s\n", messageLine(m))
}

// messageLine is m as the transcript shows it, a frame summarized.
func messageLine(m sechattest.Message) string {
	text := m.Text
	if f, err := messages.Split(text); err == nil {
		types := make([]string, len(f.Types))
		for i, t := range f.Types {
			types[i] = t.Type
		}
		text = fmt.Sprintf("(SocketScience frame, %d bytes: %s)", len(m.Text), strings.Join(types, ", "))
	}
	return fmt.Sprintf("%-15s %s", m.UserName+":", text)
}

// runOnStackExchange joins a real room and serves until ctx ends.
func runOnStackExchange(ctx context.Context, cfg config, out io.Writer) error {
	base := sechat.Config{Host: cfg.seHost, Email: cfg.seEmail, Password: cfg.sePassword}
	rt, err := socketscience.NewRuntime(socketscience.WithRuntimeLogger(cfg.log))
	if err != nil {
		return err
	}
	defer closeRuntime(rt, out)
	nodes, err := startInstances(ctx, cfg, rt, nil, nil, base, cfg.seRoom)
	defer closeAll(nodes, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d instances joined https://%s/rooms/%d; type !!/coffee there. Ctrl-C ends.\n", len(nodes), cfg.seHost, cfg.seRoom)
	<-ctx.Done()
	return nil
}

func closeAll(nodes []*socketscience.Node, out io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, n := range nodes {
		errs = append(errs, n.Close(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(out, "closing:", err)
	}
}

// closeRuntime closes rt once its nodes are (closeAll runs first: defers
// run last in, first out).
func closeRuntime(rt *socketscience.Runtime, out io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rt.Close(ctx); err != nil {
		fmt.Fprintln(out, "closing the runtime:", err)
	}
}
