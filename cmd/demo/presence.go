package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/presence"
)

// demoTimings elect on the local server within seconds: a renewal a
// second, failover about three seconds after the active stops, with
// presence's default ratios (MaxRateRatio 1.5).
func demoTimings() presence.Timings {
	return presence.Timings{RenewInterval: time.Second, RenewDeadline: 2 * time.Second,
		LeaseDuration: 2500 * time.Millisecond, Grace: 500 * time.Millisecond, ClaimStagger: 400 * time.Millisecond,
		StandbyInterval: 5 * time.Second, Tick: 20 * time.Millisecond}
}

// cluster is the demo's instances and their elected roles: the active one
// alone answers commands that must be answered once (!!/coffee, !!/tea,
// !!/failover); every one serves the beverage.
type cluster struct {
	timings presence.Timings
	log     zerolog.Logger

	mu      sync.Mutex
	names   []string
	nodes   []*socketscience.Node
	pres    []*presence.Presence
	stopped []time.Time // when !!/failover stopped the instance; zero if running
	wg      sync.WaitGroup
}

func newCluster(timings presence.Timings, log zerolog.Logger) *cluster {
	return &cluster{timings: timings, log: log}
}

// add starts presence for an instance's node. Instances added first have
// the higher priority: alpha claims first, then bravo, …
func (c *cluster) add(name string, node *socketscience.Node, log zerolog.Logger) error {
	c.mu.Lock()
	prio := -len(c.names)
	c.mu.Unlock()
	p, err := presence.New(node, presence.WithName(name), presence.WithTimings(c.timings), presence.WithLogger(log),
		presence.WithPriority(prio),
		presence.WithOnRoleChange(func(_ context.Context, rc presence.RoleChange) {
			c.log.Info().Str("instance", name).Bool("active", rc.Active).Uint64("term", rc.Term).Str("cause", rc.Reason).Msg("role")
		}))
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.names, c.nodes, c.pres, c.stopped = append(c.names, name), append(c.nodes, node), append(c.pres, p), append(c.stopped, time.Time{})
	return nil
}

// isActive reports whether the instance named name is the active one.
func (c *cluster) isActive(name string) func() bool {
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, n := range c.names {
			if n == name {
				return c.pres[i].IsActive()
			}
		}
		return false
	}
}

// active returns the index of the active instance, or -1.
func (c *cluster) active() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.pres {
		if c.stopped[i].IsZero() && p.IsActive() {
			return i
		}
	}
	return -1
}

// waitActive waits until an instance other than skip is active.
func (c *cluster) waitActive(ctx context.Context, skip int) (int, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if i := c.active(); i >= 0 && i != skip {
			return i, nil
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("no instance became active: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// command answers a person's command if this instance is the active one:
// "!!/coffee" and "!!/tea" send a beverage payload that every instance
// serves; "!!/failover" stops the active instance (as a crash would: its
// node closes without a word), and another takes over.
func (c *cluster) command(ctx context.Context, name string, node *socketscience.Node, m messages.ChatMessage) {
	if m.UserName == botName || m.Edited || !c.isActive(name)() {
		return
	}
	kind, ok := strings.CutPrefix(strings.TrimSpace(m.Text), "!!/")
	switch {
	case !ok:
	case kind == "coffee" || kind == "tea":
		_ = node.Send(ctx, socketscience.Payload{"beverage": Beverage{MessageID: m.ID, Type: kind}})
	case kind == "failover":
		c.stop(name)
	}
}

// stop stops the named instance in the background, node first, so that
// presence cannot say goodbye: the others take over when its lease runs
// out.
func (c *cluster) stop(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, n := range c.names {
		if n != name || !c.stopped[i].IsZero() {
			continue
		}
		c.stopped[i] = time.Now()
		node, p := c.nodes[i], c.pres[i]
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = node.Close(ctx)
			_ = p.Close(ctx)
		}()
	}
}

// failover acts !!/failover out: it types it, waits for another instance
// to take over and prints how long that took.
func (c *cluster) failover(ctx context.Context, say func(string), timeout time.Duration, out io.Writer) error {
	c.mu.Lock()
	n := len(c.pres)
	c.mu.Unlock()
	if n < 2 {
		fmt.Fprintln(out, "failover: skipped, one instance has nobody to hand over to")
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	old, err := c.waitActive(ctx, -1)
	if err != nil {
		return err
	}
	say("!!/failover")
	next, err := c.waitActive(ctx, old)
	if err != nil {
		return err
	}
	c.mu.Lock()
	stopped := c.stopped[old]
	oldName, nextName, term := c.names[old], c.names[next], c.pres[next].Term()
	c.mu.Unlock()
	if stopped.IsZero() {
		return errors.New("another instance became active, but the active one did not stop on !!/failover")
	}
	fmt.Fprintf(out, "failover: %s stopped; %s took over (term %d) %.1fs later\n", oldName, nextName, term, time.Since(stopped).Seconds())
	return nil
}

// electionTimeout bounds the wait for the first election: a hello read
// back, then a lease without any active (longer with DefaultTimings, as on
// a real Stack Exchange room: about three minutes).
const electionTimeout = 5 * time.Minute

// announce waits for the first election and says who won.
func announce(ctx context.Context, cfg config, c *cluster, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, electionTimeout)
	defer cancel()
	i, err := c.waitActive(ctx, -1)
	if err != nil {
		return err
	}
	c.mu.Lock()
	name, term := c.names[i], c.pres[i].Term()
	c.mu.Unlock()
	fmt.Fprintf(out, "They elected %s as the active instance (term %d): it alone answers commands; every instance serves.\n", name, term)
	return nil
}

// close stops presence on the instances still running; their nodes close
// after.
func (c *cluster) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.mu.Lock()
	pres := append([]*presence.Presence{}, c.pres...)
	c.mu.Unlock()
	for _, p := range pres {
		_ = p.Close(ctx)
	}
	c.wg.Wait()
}

// presenceOnly reports whether text is a frame carrying presence records
// and nothing else: the transcript leaves those out.
func presenceOnly(text string) bool {
	f, err := messages.Split(text)
	if err != nil {
		return false
	}
	for _, t := range f.Types {
		if t.Type != presence.RecordType && t.Type != messages.EnvelopeKey {
			return false
		}
	}
	return true
}
