package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway/sechat"
	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
)

// roomsFlags adds -rooms: every instance is one node in two rooms, as
// SmokeDetector's are in every room with its "direct" role.
func roomsFlags(cfg *config) {
	flag.BoolVar(&cfg.rooms, "rooms", false, "run every instance in two rooms, each on a local chat server of its own; with -headless, kill the first server mid-run and show every beverage still served once")
}

// localRoom is a room on a local chat server of its own, with the bot's
// account and a person's.
type localRoom struct {
	srv   *sechattest.Server
	room  sechattest.Room
	human sechattest.User
}

func newLocalRoom(addr, name string) (*localRoom, error) {
	srv, err := sechattest.NewServerAt(addr)
	if err != nil {
		return nil, err
	}
	r := &localRoom{srv: srv, room: srv.AddRoom(name)}
	srv.AddUser(botName, botEmail, botPassword)
	r.human = srv.AddUser(humanName, "you@example.com", "")
	return r, nil
}

func (r *localRoom) say(text string) { _, _ = r.srv.Say(r.room.ID, r.human.ID, text) }

// servings counts, in r, the servings of kind and how many of them repeat
// a serving already there: an instance that handled a payload twice.
func (r *localRoom) servings(kind string) (n, repeats int) {
	seen := map[string]bool{}
	for _, m := range r.srv.Messages(r.room.ID) {
		if m.UserName == botName && strings.Contains(m.Text, "*serves another "+kind+"*") {
			if seen[m.Text] {
				repeats++
			}
			seen[m.Text] = true
			n++
		}
	}
	return n, repeats
}

// runInRooms acts the example out with every instance in two rooms, on two
// local servers (two networks, as far as the nodes can tell): !!/coffee in
// the first, which then dies with all its sockets, and !!/tea in the
// second. Each beverage payload reaches each instance through both rooms
// while both live, and is served once; the servings are posted in every
// room that lives.
func runInRooms(ctx context.Context, cfg config, in io.Reader, out io.Writer) error {
	first, err := newLocalRoom(cfg.addr, "SocketScience demo")
	if err != nil {
		return err
	}
	defer first.srv.Close()
	second, err := newLocalRoom("127.0.0.1:0", "SocketScience demo, second network")
	if err != nil {
		return err
	}
	defer second.srv.Close()
	rt, err := socketscience.NewRuntime(socketscience.WithRuntimeLogger(cfg.log))
	if err != nil {
		return err
	}
	defer closeRuntime(rt, out)
	cfg.moreRooms = func(log *zerolog.Logger) ([]socketscience.Option, error) {
		client, err := sechat.NewClient(sechat.Config{BaseURL: second.srv.URL, Email: botEmail, Password: botPassword, Logger: log})
		if err != nil {
			return nil, err
		}
		return []socketscience.Option{socketscience.WithRooms(client.Room(second.room.ID))}, nil
	}
	base := sechat.Config{BaseURL: first.srv.URL, Email: botEmail, Password: botPassword}
	cl := newCluster(demoTimings(), cfg.log)
	nodes, err := startInstances(ctx, cfg, rt, nil, nil, cl, base, first.room.ID)
	defer closeAll(nodes, out)
	defer cl.close()
	if err != nil {
		return err
	}
	for _, r := range []*localRoom{first, second} {
		fmt.Fprintf(out, "Room: %s\n", r.srv.RoomURL(r.room.ID))
	}
	fmt.Fprintf(out, "%d instances of %s joined both rooms, one node each.\n", len(nodes), botName)
	if err := announce(ctx, cfg, cl, out); err != nil {
		return err
	}
	if !cfg.headless {
		first.say("!!/coffee")
		fmt.Fprintln(out, "Type !!/coffee or !!/tea in either room in a browser, or here (posted in the first); Ctrl-C ends.")
		readLines(ctx, in, first.say)
		<-ctx.Done()
		return nil
	}
	want := len(nodes)
	wait := func(r *localRoom, kind string) error {
		ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
		_, err := r.srv.WaitFor(ctx, r.room.ID, func([]sechattest.Message) bool { n, _ := r.servings(kind); return n >= want })
		return err
	}
	first.say("!!/coffee")
	if err := wait(second, "coffee"); err != nil {
		return fmt.Errorf("coffee not served in the second room: %w", err)
	}
	fmt.Fprintln(out, "Killing the first room's server, sockets and all.")
	first.srv.Close()
	second.say("!!/tea")
	if err := wait(second, "tea"); err != nil {
		return fmt.Errorf("tea not served after the first room died: %w", err)
	}
	for _, m := range second.srv.Messages(second.room.ID) {
		printMessage(out, m)
	}
	coffee, r1 := second.servings("coffee")
	tea, r2 := second.servings("tea")
	fmt.Fprintf(out, "served %d/%d\n", coffee+tea, 2*want)
	if r1+r2 > 0 || coffee+tea != 2*want {
		return fmt.Errorf("%d servings, %d of them repeats; want each of %d once", coffee+tea, r1+r2, 2*want)
	}
	fmt.Fprintln(out, "every payload served once, though one room died")
	return nil
}
