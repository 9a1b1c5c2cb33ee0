package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/gateway"
	"github.com/socketscience/socketscience/chatgateway/sechat"
	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
	"github.com/socketscience/socketscience/supervisor"
)

// gate fails every dial while down, as a server that refuses connections.
type gate struct {
	chatgateway.Dialer
	down  atomic.Bool
	dials atomic.Int64
}

var errServerDown = errors.New("bench: connection refused (server down)")

func (g *gate) Dial(ctx context.Context) (chatgateway.Conn, error) {
	g.dials.Add(1)
	if g.down.Load() {
		return nil, errServerDown
	}
	return g.Dialer.Dial(ctx)
}

type recResult struct {
	first, drained time.Duration
	dials          int64
}

// recovery: a sender node (its own account) and a receiver node in a
// sechattest room. The sender's socket is killed and its dials fail; it
// sends k payloads while down; then dials succeed again. Measured from that
// moment to the receiver's first payload and to its last.
func recovery(policy supervisor.Policy, k int, down time.Duration) (recResult, error) {
	srv := sechattest.NewServer()
	defer srv.Close()
	room := srv.AddRoom("bots")
	srv.AddUser("SmokeDetector", botEmail, botPassword)
	su := srv.AddUser("sender", "sender@example.com", "secret2")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	sc, err := sechat.NewClient(sechat.Config{BaseURL: srv.URL, Email: "sender@example.com", Password: "secret2"})
	if err != nil {
		return recResult{}, err
	}
	g := &gate{Dialer: sc.Room(room.ID)}
	sender, err := socketscience.New(g, socketscience.WithReconnectPolicy(policy))
	if err != nil {
		return recResult{}, err
	}
	rc, err := sechat.NewClient(sechat.Config{BaseURL: srv.URL, Email: botEmail, Password: botPassword})
	if err != nil {
		return recResult{}, err
	}
	receiver, err := socketscience.New(rc.Room(room.ID), socketscience.WithTrustedUsers(su.ID))
	if err != nil {
		return recResult{}, err
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		_ = sender.Close(cctx)
		_ = receiver.Close(cctx)
	}()
	var got atomic.Int64
	first, all, warm := make(chan time.Time, 1), make(chan time.Time, 1), make(chan struct{}, 1)
	if _, err := socketscience.Handle(receiver, "r", func(ctx context.Context, seq int) error {
		now := time.Now()
		if seq < 0 {
			warm <- struct{}{}
			return nil
		}
		switch got.Add(1) {
		case 1:
			first <- now
			if k == 1 {
				all <- now
			}
		case int64(k):
			all <- now
		}
		return nil
	}); err != nil {
		return recResult{}, err
	}
	for _, n := range []*socketscience.Node{sender, receiver} {
		if err := n.WaitConnected(ctx); err != nil {
			return recResult{}, err
		}
	}
	// One payload through, so both ends are known to work.
	if err := sender.Send(ctx, socketscience.Payload{"r": -1}); err != nil {
		return recResult{}, err
	}
	select {
	case <-warm:
	case <-ctx.Done():
		return recResult{}, errors.New("recovery: warm-up payload never arrived")
	}

	// The outage.
	g.down.Store(true)
	srv.KillSockets(su.ID)
	for sender.Health().Connected {
		if ctx.Err() != nil {
			return recResult{}, errors.New("recovery: the sender never noticed its socket die")
		}
		time.Sleep(100 * time.Microsecond)
	}
	for i := range k {
		if err := sender.Send(ctx, socketscience.Payload{"r": i}); err != nil {
			return recResult{}, err
		}
	}
	time.Sleep(down) // the outage lasts this long
	dials0 := g.dials.Load()
	back := time.Now()
	g.down.Store(false)
	var res recResult
	select {
	case t := <-first:
		res.first = t.Sub(back)
	case <-ctx.Done():
		return recResult{}, errors.New("recovery: nothing delivered after the server came back")
	}
	select {
	case t := <-all:
		res.drained = t.Sub(back)
	case <-ctx.Done():
		return recResult{}, fmt.Errorf("recovery: %d of %d delivered", got.Load(), k)
	}
	res.dials = g.dials.Load() - dials0
	return res, nil
}

func runRecovery(_ context.Context, cfg config, _ *machine) (*section, error) {
	k, down := 100, time.Second
	if cfg.quick {
		k, down = 10, 50*time.Millisecond
	}
	def := gateway.DefaultReconnectPolicy()
	fast := gateway.DefaultReconnectPolicy()
	fast.Backoff.Initial, fast.Backoff.Max = 10*time.Millisecond, 100*time.Millisecond
	if _, err := recovery(fast, 5, 10*time.Millisecond); err != nil { // warm-up
		return nil, err
	}
	type side struct{ first, drained []float64 }
	sides := [2]side{}
	pols := [2]supervisor.Policy{def, fast}
	for r := range cfg.rounds {
		order := []int{0, 1}
		if r%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			res, err := recovery(pols[i], k, down)
			if err != nil {
				return nil, err
			}
			sides[i].first = append(sides[i].first, ms(res.first))
			sides[i].drained = append(sides[i].drained, ms(res.drained))
		}
	}
	s := &section{
		Title: "6. Recovery after an outage",
		What: fmt.Sprintf("A sender node and a receiver node in a sechattest room. The sender's socket is killed (sechattest KillSockets) "+
			"and its dials fail for %v while it sends %d payloads (queued); then dials succeed again. Measured from that moment to the "+
			"receiver's first payload and to its last (the queue drained). Default reconnect policy (backoff %v doubling to %v, jitter %.0f%%) "+
			"versus a fast one (%v to %v).", down, k, def.Backoff.Initial, def.Backoff.Max, def.Backoff.Jitter*100, fast.Backoff.Initial, fast.Backoff.Max),
		Header: []string{"from the server back to", "default policy", "fast policy"},
		Rows: [][]string{
			{"first payload delivered", fmtSpread(spreadOf(sides[0].first), fmtMs), fmtSpread(spreadOf(sides[1].first), fmtMs)},
			{fmt.Sprintf("queue drained (%d payloads)", k), fmtSpread(spreadOf(sides[0].drained), fmtMs), fmtSpread(spreadOf(sides[1].drained), fmtMs)},
		},
		Notes: []string{"With the default policy most of the time is the backoff still running when the server comes back " +
			"(the next dial is up to a full backoff step away); the reconnect itself (login, events, ws-auth, socket) and the drain are the rest."},
	}
	return s, nil
}
