package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/messages"
)

type config struct {
	nodes    int
	headless bool
	timeout  time.Duration
	log      zerolog.Logger
}

// Beverage is the payload of the "beverage" message type, as SmokeDetector
// sends it.
type Beverage struct {
	MessageID int64  `json:"message_id"`
	Type      string `json:"beverage_type"`
}

// bot is the chat account all instances share, as SmokeDetector's do.
var (
	bot   = chatgateway.Identity{UserID: 1, UserName: "SmokeDetector"}
	human = chatgateway.Identity{UserID: 2, UserName: "you"}
)

var instanceNames = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}

func instanceName(i int) string {
	if i < len(instanceNames) {
		return instanceNames[i]
	}
	return fmt.Sprintf("instance%d", i+1)
}

func run(ctx context.Context, cfg config, in io.Reader, out io.Writer) error {
	room := memchat.NewRoom()
	nodes, err := startInstances(ctx, cfg, room)
	defer closeAll(nodes, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d instances of %s joined the room: %s is the active one and answers commands.\n",
		len(nodes), bot.UserName, instanceName(0))
	if cfg.headless {
		return actOut(ctx, cfg, room, out)
	}
	return interactive(ctx, room, in, out)
}

func startInstances(ctx context.Context, cfg config, room *memchat.Room) ([]*socketscience.Node, error) {
	var nodes []*socketscience.Node
	for i := range cfg.nodes {
		name := instanceName(i)
		var node *socketscience.Node
		opts := []socketscience.Option{
			socketscience.WithLogger(cfg.log.With().Str("instance", name).Logger()),
			// The active instance sends the payload and serves too.
			socketscience.WithSelfDelivery(true),
		}
		if i == 0 {
			opts = append(opts, socketscience.WithChatHandler(func(ctx context.Context, m messages.ChatMessage) {
				answerCommand(ctx, node, m)
			}))
		}
		node, err := socketscience.New(room.Member(bot, name), opts...)
		if err != nil {
			return nodes, err
		}
		nodes = append(nodes, node)
		_, err = socketscience.Handle(node, "beverage", func(ctx context.Context, b Beverage) error {
			return node.Post(ctx, fmt.Sprintf("*serves another %s*", b.Type))
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

// answerCommand turns "!!/coffee" and "!!/tea" into a beverage payload.
func answerCommand(ctx context.Context, node *socketscience.Node, m messages.ChatMessage) {
	if m.UserID == bot.UserID {
		return
	}
	kind, ok := strings.CutPrefix(strings.TrimSpace(m.Text), "!!/")
	if !ok || (kind != "coffee" && kind != "tea") {
		return
	}
	_ = node.Send(ctx, socketscience.Payload{"beverage": Beverage{MessageID: m.ID, Type: kind}})
}

func actOut(ctx context.Context, cfg config, room *memchat.Room, out io.Writer) error {
	kinds := []string{"coffee", "tea"}
	for _, k := range kinds {
		room.Say(human, "!!/"+k)
	}
	want := cfg.nodes * len(kinds)
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	entries, _ := room.WaitFor(ctx, func(es []memchat.Entry) bool { return served(es) >= want })
	if entries == nil {
		entries = room.Transcript()
	}
	for _, e := range entries {
		printEntry(out, e)
	}
	got := served(entries)
	fmt.Fprintf(out, "served %d/%d\n", got, want)
	if got != want {
		return fmt.Errorf("%d of %d servings missing", want-got, want)
	}
	return nil
}

// served counts distinct (instance, beverage) servings, so an instance that
// serves twice does not make up for one that never served.
func served(es []memchat.Entry) int {
	seen := map[string]bool{}
	for _, e := range es {
		if e.UserID == bot.UserID && strings.HasPrefix(e.Text, "*serves another ") {
			seen[e.Via+" "+e.Text] = true
		}
	}
	return len(seen)
}

func interactive(ctx context.Context, room *memchat.Room, in io.Reader, out io.Writer) error {
	fmt.Fprintln(out, "Type !!/coffee or !!/tea (or anything else); Ctrl-D ends.")
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { follow(ctx, room, out) })
	defer wg.Wait()
	defer cancel()
	lines := make(chan string)
	go func() { // ends with stdin; not waited for, as a read of stdin cannot be cancelled
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			if strings.TrimSpace(line) != "" {
				room.Say(human, line)
			}
		}
	}
}

// follow prints the room's transcript as it grows.
func follow(ctx context.Context, room *memchat.Room, out io.Writer) {
	printed := 0
	for {
		es, err := room.WaitFor(ctx, func(es []memchat.Entry) bool { return len(es) > printed })
		if err != nil {
			return
		}
		for _, e := range es[printed:] {
			printEntry(out, e)
		}
		printed = len(es)
	}
}

func printEntry(out io.Writer, e memchat.Entry) {
	who := e.UserName
	if e.Via != "" {
		who += " [" + e.Via + "]"
	}
	text := e.Text
	if f, err := messages.Split(text); err == nil {
		types := make([]string, len(f.Types))
		for i, t := range f.Types {
			types[i] = t.Type
		}
		text = fmt.Sprintf("(SocketScience frame, %d bytes: %s)", len(e.Text), strings.Join(types, ", "))
	}
	fmt.Fprintf(out, "  %-24s %s\n", who+":", text)
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
