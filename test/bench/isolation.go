package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/messages"
)

const slowHandler = 100 * time.Millisecond

type isoPlan struct {
	bCount int           // B payloads
	aEvery int           // one A payload before every aEvery-th B
	gap    time.Duration // between B payloads
}

// isoFrames is the stream both dispatchers get: A frames interleaved with
// B frames whose data is their index.
func isoFrames(p isoPlan) ([]string, []int, error) {
	var frames []string
	var bIndex []int // -1 for A
	for i := range p.bCount {
		if i%p.aEvery == 0 {
			f, err := messages.Encode(messages.Payload{"a": i})
			if err != nil {
				return nil, nil, err
			}
			frames, bIndex = append(frames, f), append(bIndex, -1)
		}
		f, err := messages.Encode(messages.Payload{"b": i})
		if err != nil {
			return nil, nil, err
		}
		frames, bIndex = append(frames, f), append(bIndex, i)
	}
	return frames, bIndex, nil
}

// feedPaced pushes frames into ch, recording each B frame's feed time, with
// gap after each B frame.
func feedPaced(ch chan<- string, frames []string, bIndex []int, sent []atomic.Int64, gap time.Duration) {
	for i, f := range frames {
		if b := bIndex[i]; b >= 0 {
			sent[b].Store(time.Now().UnixNano())
			ch <- f
			time.Sleep(gap)
			continue
		}
		ch <- f
	}
}

type isoResult struct {
	lat     []time.Duration
	aDone   int64
	elapsed time.Duration
}

// goIsolation runs the stream through a Node: A's callback takes 100 ms.
func goIsolation(p isoPlan, frames []string, bIndex []int) (isoResult, error) {
	conn := newFeedConn(len(frames) + 1)
	node, err := socketscience.New(dialOnce(conn), socketscience.WithMaxPending(1<<20))
	if err != nil {
		return isoResult{}, err
	}
	var stop atomic.Bool
	var aDone atomic.Int64
	if _, err := node.Register("a", func(ctx context.Context, m socketscience.Message) error {
		if stop.Load() {
			return nil
		}
		select {
		case <-time.After(slowHandler):
			aDone.Add(1)
		case <-ctx.Done():
		}
		return nil
	}); err != nil {
		return isoResult{}, err
	}
	sent := make([]atomic.Int64, p.bCount)
	lat := make([]time.Duration, p.bCount)
	var got atomic.Int64
	done := make(chan struct{})
	if _, err := node.Register("b", func(ctx context.Context, m socketscience.Message) error {
		now := time.Now().UnixNano()
		var i int
		if err := m.Decode(&i); err != nil {
			return err
		}
		lat[i] = time.Duration(now - sent[i].Load())
		if got.Add(1) == int64(p.bCount) {
			close(done)
		}
		return nil
	}); err != nil {
		return isoResult{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := node.WaitConnected(ctx); err != nil {
		return isoResult{}, err
	}
	start := time.Now()
	go feedPaced(conn.frames, frames, bIndex, sent, p.gap)
	var res isoResult
	select {
	case <-done:
		res.elapsed = time.Since(start)
	case <-ctx.Done():
		return isoResult{}, fmt.Errorf("node: %d of %d B payloads after a minute", got.Load(), p.bCount)
	}
	res.lat, res.aDone = lat, aDone.Load()
	stop.Store(true)
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	_ = node.Close(cctx) // cancels A's pending sleep
	return res, nil
}

// syncIsolation runs the same stream through a synchronous dispatcher, as
// SmokeDetector does: one loop decodes each frame and calls its types'
// callbacks in order.
func syncIsolation(p isoPlan, frames []string, bIndex []int) (isoResult, error) {
	ch := make(chan string, len(frames)+1)
	sent := make([]atomic.Int64, p.bCount)
	lat := make([]time.Duration, p.bCount)
	var aDone int64
	callbacks := map[string][]func(messages.RawType) error{
		"a": {func(messages.RawType) error { time.Sleep(slowHandler); aDone++; return nil }},
		"b": {func(t messages.RawType) error {
			now := time.Now().UnixNano()
			var i int
			if err := (messages.Message{Type: t.Type, Data: t.Data}).Decode(&i); err != nil {
				return err
			}
			lat[i] = time.Duration(now - sent[i].Load())
			return nil
		}},
	}
	start := time.Now()
	go feedPaced(ch, frames, bIndex, sent, p.gap)
	for range frames {
		fr, err := messages.Split(<-ch)
		if err != nil {
			return isoResult{}, err
		}
		for _, t := range fr.Types {
			for _, cb := range callbacks[t.Type] {
				if err := cb(t); err != nil {
					return isoResult{}, err
				}
			}
		}
	}
	return isoResult{lat: lat, aDone: aDone, elapsed: time.Since(start)}, nil
}

func runIsolation(_ context.Context, cfg config, _ *machine) (*section, error) {
	p := isoPlan{bCount: 1000, aEvery: 100, gap: 200 * time.Microsecond}
	if cfg.quick {
		p = isoPlan{bCount: 100, aEvery: 50, gap: 200 * time.Microsecond}
	}
	frames, bIndex, err := isoFrames(p)
	if err != nil {
		return nil, err
	}
	if _, err := goIsolation(isoPlan{bCount: 50, aEvery: 1000, gap: 0}, frames[:51], bIndex[:51]); err != nil { // warm-up
		return nil, err
	}
	var goP50, goP99, goMax, syP50, syP99, syMax, ratios []float64
	var goAll, syAll []time.Duration
	for r := range cfg.rounds {
		order := []bool{true, false}
		if r%2 == 1 {
			order = []bool{false, true}
		}
		var g, s latStats
		for _, isGo := range order {
			if isGo {
				res, err := goIsolation(p, frames, bIndex)
				if err != nil {
					return nil, err
				}
				g = latencies(res.lat)
				goAll = append(goAll, res.lat...)
				goP50, goP99, goMax = append(goP50, ms(g.P50)), append(goP99, ms(g.P99)), append(goMax, ms(g.Max))
			} else {
				res, err := syncIsolation(p, frames, bIndex)
				if err != nil {
					return nil, err
				}
				s = latencies(res.lat)
				syAll = append(syAll, res.lat...)
				syP50, syP99, syMax = append(syP50, ms(s.P50)), append(syP99, ms(s.P99)), append(syMax, ms(s.Max))
			}
		}
		ratios = append(ratios, ms(s.P99)/ms(g.P99))
	}
	nA := (p.bCount + p.aEvery - 1) / p.aEvery
	gp99 := spreadOf(goP99)
	sec := &section{
		Title: "2. Isolation from a slow handler",
		What: fmt.Sprintf("Type A's callback takes %v per payload; %d A payloads (one before every %dth B, %v of A work, "+
			"so A's handler is busy for the whole run) are interleaved with %d B payloads fed with a time.Sleep(%v) after each. "+
			"B's delivery latency: from the frame being handed to the connection's reader to B's callback starting. "+
			"Node: frames from a fake Conn, one handler actor per type. Synchronous: one loop in the harness that "+
			"splits each frame and calls its types' callbacks in order, as SmokeDetector does.",
			slowHandler, nA, p.aEvery, time.Duration(nA)*slowHandler, p.bCount, p.gap),
		Target: "B's p99 < 1 ms while A is saturated",
		Header: []string{"B latency", "Node", "synchronous dispatcher", "ratio sync / Node"},
		Rows: [][]string{
			{"p50", fmtSpread(spreadOf(goP50), fmtMs), fmtSpread(spreadOf(syP50), fmtMs), ratio(spreadOf(syP50).Med, spreadOf(goP50).Med)},
			{"p99", fmtSpread(gp99, fmtMs), fmtSpread(spreadOf(syP99), fmtMs), fmtSpread(spreadOf(ratios), func(x float64) string { return fmt.Sprintf("%.0f×", x) })},
			{"max", fmtSpread(spreadOf(goMax), fmtMs), fmtSpread(spreadOf(syMax), fmtMs), ratio(spreadOf(syMax).Med, spreadOf(goMax).Med)},
		},
		Latencies: []series{{"isolation: B via Node", goAll}, {"isolation: B via sync loop", syAll}},
		Unit:      "ms",
	}
	sec.Met = yes(gp99.Med < 1)
	if !*sec.Met {
		sec.Notes = append(sec.Notes, "Not met: B's p99 is over 1 ms with A saturated.")
	}
	return sec, nil
}
