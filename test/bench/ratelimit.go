package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
)

const (
	rlInterval = time.Second
	rlTypes    = 50
)

type rlResult struct {
	posts int64
	lat   []time.Duration // virtual
	wall  time.Duration
}

// rateLimited sends a burst of 50 payloads of distinct types through a room
// allowing one post per second, on a fake clock: the harness advances it to
// the next timer only once the receiver has handled every frame posted so
// far and nothing has moved for a few milliseconds, so virtual time only
// passes while the node waits for the rate limit.
func rateLimited(coalesce bool) (rlResult, error) {
	room := memchat.NewRoom(memchat.WithPostRate(rlInterval, 1))
	clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	opts := []socketscience.Option{socketscience.WithClock(clock)}
	if !coalesce {
		opts = append(opts, socketscience.WithoutCoalescing())
	}
	sender, err := socketscience.New(room.Member(bot, "sender"), opts...)
	if err != nil {
		return rlResult{}, err
	}
	receiver, err := socketscience.New(room.Member(bot, "receiver"))
	if err != nil {
		return rlResult{}, err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sender.Close(ctx)
		_ = receiver.Close(ctx)
	}()
	var mu sync.Mutex
	var lat []time.Duration
	var got atomic.Int64
	var t0 time.Time
	for i := range rlTypes {
		if _, err := receiver.Register(fmt.Sprintf("type%02d", i), func(context.Context, socketscience.Message) error {
			d := clock.Now().Sub(t0)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
			got.Add(1)
			return nil
		}); err != nil {
			return rlResult{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sender.WaitConnected(ctx); err != nil {
		return rlResult{}, err
	}
	if err := receiver.WaitConnected(ctx); err != nil {
		return rlResult{}, err
	}
	posted0 := sender.Stats().Posted
	t0 = clock.Now()
	wall := time.Now()
	for i := range rlTypes {
		if err := sender.Send(ctx, socketscience.Payload{fmt.Sprintf("type%02d", i): i}); err != nil {
			return rlResult{}, err
		}
	}
	type state struct{ got, posted, frames, delivered int64 }
	var last state
	stable := 0
	for got.Load() < rlTypes {
		if ctx.Err() != nil {
			return rlResult{}, fmt.Errorf("coalesce=%v: %d of %d delivered (sender %+v)", coalesce, got.Load(), rlTypes, sender.Stats())
		}
		ss, rs := sender.Stats(), receiver.Stats()
		now := state{got.Load(), ss.Posted, rs.Frames, rs.Delivered}
		quiet := now == last && now.frames >= now.posted-posted0 && now.delivered == now.got
		last = now
		if !quiet {
			stable = 0
			time.Sleep(500 * time.Microsecond)
			continue
		}
		if stable++; stable < 4 {
			time.Sleep(500 * time.Microsecond)
			continue
		}
		if ts := clock.Timers(); len(ts) > 0 {
			clock.Advance(ts[0])
			stable = 0
		} else {
			time.Sleep(500 * time.Microsecond)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return rlResult{posts: sender.Stats().Posted - posted0, lat: slices.Clone(lat), wall: time.Since(wall)}, nil
}

func runRateLimit(_ context.Context, cfg config, _ *machine) (*section, error) {
	if _, err := rateLimited(true); err != nil { // warm-up
		return nil, err
	}
	type side struct {
		ppp, p50, p99, max []float64
		all                []time.Duration
	}
	sides := map[bool]*side{true: {}, false: {}}
	for r := range cfg.rounds {
		order := []bool{true, false}
		if r%2 == 1 {
			order = []bool{false, true}
		}
		for _, c := range order {
			res, err := rateLimited(c)
			if err != nil {
				return nil, err
			}
			l := latencies(res.lat)
			s := sides[c]
			s.ppp = append(s.ppp, float64(rlTypes)/float64(res.posts))
			s.p50, s.p99, s.max = append(s.p50, l.P50.Seconds()), append(s.p99, l.P99.Seconds()), append(s.max, l.Max.Seconds())
			s.all = append(s.all, res.lat...)
		}
	}
	on, off := sides[true], sides[false]
	ppp := spreadOf(on.ppp)
	posts := func(x float64) string { return fmt.Sprintf("%.0f", rlTypes/x) }
	sec := &section{
		Title: "4. Under a rate limit",
		What: fmt.Sprintf("A burst of %d payloads of distinct types sent at once by a node whose server allows one post per second "+
			"(burst 1; memchat room behind test/delivery_test.go's paced Conn wrapper), received by a second node. "+
			"Time is a fake clock: the harness advances it to the node's next timer only once the receiver has handled every frame "+
			"posted so far and nothing has moved for ~2 ms, so latencies are in virtual seconds and count only the waits "+
			"the rate limit imposes (real processing is a few ms per post).", rlTypes),
		Target: "≥ 20 payloads per post with coalescing",
		Header: []string{"", "coalescing (default)", "WithoutCoalescing", "ratio"},
		Rows: [][]string{
			{"chat posts per burst", fmtSpread(ppp, posts), fmtSpread(spreadOf(off.ppp), posts), ""},
			{"payloads per post", fmtSpread(ppp, fmtNum), fmtSpread(spreadOf(off.ppp), fmtNum), ratio(ppp.Med, spreadOf(off.ppp).Med)},
			{"delivery latency p50 (virtual)", fmtSpread(spreadOf(on.p50), fmtSec), fmtSpread(spreadOf(off.p50), fmtSec), ratio(spreadOf(off.p50).Med, spreadOf(on.p50).Med)},
			{"delivery latency p99 (virtual)", fmtSpread(spreadOf(on.p99), fmtSec), fmtSpread(spreadOf(off.p99), fmtSec), ratio(spreadOf(off.p99).Med, spreadOf(on.p99).Med)},
			{"delivery latency max (virtual)", fmtSpread(spreadOf(on.max), fmtSec), fmtSpread(spreadOf(off.max), fmtSec), ratio(spreadOf(off.max).Med, spreadOf(on.max).Med)},
		},
		Latencies: []series{{"rate limit: coalescing", on.all}, {"rate limit: WithoutCoalescing", off.all}},
		Unit:      "s (virtual)",
	}
	sec.Met = yes(ppp.Med >= 20)
	if !*sec.Met {
		sec.Notes = append(sec.Notes, "Not met: the burst took more posts than expected with coalescing on.")
	}
	return sec, nil
}
