package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
)

// roomsSlowPost is how long the slow room's server takes to answer a post:
// a room far away, or a server under load.
const roomsSlowPost = 40 * time.Millisecond

// roomsTypes is how many types the payloads cycle through, so that a room
// that falls behind can merge what waits (payloads of one type cannot).
const roomsTypes = 10

// slowDialer's connections take roomsSlowPost to post.
type slowDialer struct{ chatgateway.Dialer }

func (d slowDialer) Dial(ctx context.Context) (chatgateway.Conn, error) {
	c, err := d.Dialer.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return slowConn{c}, nil
}

type slowConn struct{ chatgateway.Conn }

func (c slowConn) Post(ctx context.Context, text string) (int64, error) {
	t := time.NewTimer(roomsSlowPost)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return c.Conn.Post(ctx, text)
}

// roomsSetup is which rooms the sender and receiver share.
type roomsSetup int

const (
	roomsFastOnly roomsSetup = iota
	roomsSlowOnly
	roomsFastAndSlow
)

type roomsResult struct {
	lat         []time.Duration
	postsPerPay []float64 // per room, in the node's order
	dupsPerPay  float64
}

// roomsRound sends n payloads, one at a time, each as soon as the previous
// one was handled, from a node to another in the rooms of setup, and
// measures each one's delivery latency (Send to callback) and what each
// room posted.
func roomsRound(setup roomsSetup, n int) (roomsResult, error) {
	fast, slow := memchat.NewRoom(), memchat.NewRoom()
	dialers := func(name string) []chatgateway.Dialer {
		switch setup {
		case roomsFastOnly:
			return []chatgateway.Dialer{fast.Member(bot, name)}
		case roomsSlowOnly:
			return []chatgateway.Dialer{slowDialer{slow.Member(bot, name)}}
		}
		return []chatgateway.Dialer{fast.Member(bot, name), slowDialer{slow.Member(bot, name)}}
	}
	var nodes []*socketscience.Node
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, nd := range nodes {
			_ = nd.Close(ctx)
		}
	}()
	for _, name := range []string{"sender", "receiver"} {
		ds := dialers(name)
		nd, err := socketscience.New(ds[0], socketscience.WithRooms(ds[1:]...))
		if err != nil {
			return roomsResult{}, err
		}
		nodes = append(nodes, nd)
	}
	sender, receiver := nodes[0], nodes[1]
	got := make(chan time.Time, 1)
	for t := range roomsTypes {
		if _, err := receiver.Register(fmt.Sprintf("t%d", t), func(context.Context, socketscience.Message) error {
			got <- time.Now()
			return nil
		}); err != nil {
			return roomsResult{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, nd := range nodes {
		for nd.Health().Degraded || !nd.Health().Connected {
			if err := nd.WaitConnected(ctx); err != nil {
				return roomsResult{}, err
			}
			time.Sleep(time.Millisecond) // until every room is up
		}
	}
	var res roomsResult
	var mu sync.Mutex
	for i := range n {
		start := time.Now()
		if err := sender.Send(ctx, socketscience.Payload{fmt.Sprintf("t%d", i%roomsTypes): i}); err != nil {
			return res, err
		}
		select {
		case at := <-got:
			mu.Lock()
			res.lat = append(res.lat, at.Sub(start))
			mu.Unlock()
		case <-ctx.Done():
			return res, fmt.Errorf("payload %d not delivered: %w", i, ctx.Err())
		}
	}
	if err := sender.Flush(ctx); err != nil {
		return res, err
	}
	// Let the slow room post what it still holds, to count its posts.
	for sender.Health().Queued > 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	for _, r := range sender.Stats().Rooms {
		res.postsPerPay = append(res.postsPerPay, float64(r.Posted)/float64(n))
	}
	res.dupsPerPay = float64(receiver.Stats().Duplicates) / float64(n)
	return res, nil
}

func runRooms(_ context.Context, cfg config, _ *machine) (*section, error) {
	n := 100
	if cfg.quick {
		n = 10
	}
	if _, err := roomsRound(roomsFastAndSlow, n/10+1); err != nil { // warm-up
		return nil, err
	}
	type side struct {
		p50, p99          []float64
		fastPosts, slowPP []float64
		dups              []float64
		all               []time.Duration
	}
	sides := map[roomsSetup]*side{roomsFastOnly: {}, roomsSlowOnly: {}, roomsFastAndSlow: {}}
	for range cfg.rounds {
		for _, setup := range []roomsSetup{roomsFastOnly, roomsSlowOnly, roomsFastAndSlow} {
			res, err := roomsRound(setup, n)
			if err != nil {
				return nil, err
			}
			s := sides[setup]
			l := latencies(res.lat)
			s.p50, s.p99 = append(s.p50, ms(l.P50)), append(s.p99, ms(l.P99))
			s.all = append(s.all, res.lat...)
			s.dups = append(s.dups, res.dupsPerPay)
			switch setup {
			case roomsFastOnly:
				s.fastPosts = append(s.fastPosts, res.postsPerPay[0])
			case roomsSlowOnly:
				s.slowPP = append(s.slowPP, res.postsPerPay[0])
			default:
				s.fastPosts, s.slowPP = append(s.fastPosts, res.postsPerPay[0]), append(s.slowPP, res.postsPerPay[1])
			}
		}
	}
	f, sl, both := sides[roomsFastOnly], sides[roomsSlowOnly], sides[roomsFastAndSlow]
	sec := &section{
		Title: "8. Several rooms, one slow",
		What: fmt.Sprintf("%d payloads (of %d types in turn) sent one at a time (each once the previous one was handled) from a node to another, "+
			"both in a fast memchat room, or in a slow one (each post takes %v, a far or loaded server), or in both at once "+
			"(WithRooms, SendToEvery). Latency is Send to the receiver's callback, wall clock. Posts per payload are each room's chat "+
			"posts over payloads sent: the slow room falls behind and merges what waits; duplicates are the copies the receiver "+
			"dropped.", n, roomsTypes, roomsSlowPost),
		Target: "with one room slow, latency as with the fast room alone: the fast room wins",
		Header: []string{"", "fast room alone", "slow room alone", "fast + slow rooms"},
		Rows: [][]string{
			{"delivery latency p50", fmtSpread(spreadOf(f.p50), fmtMs), fmtSpread(spreadOf(sl.p50), fmtMs), fmtSpread(spreadOf(both.p50), fmtMs)},
			{"delivery latency p99", fmtSpread(spreadOf(f.p99), fmtMs), fmtSpread(spreadOf(sl.p99), fmtMs), fmtSpread(spreadOf(both.p99), fmtMs)},
			{"posts per payload, fast room", fmtSpread(spreadOf(f.fastPosts), fmtNum), "", fmtSpread(spreadOf(both.fastPosts), fmtNum)},
			{"posts per payload, slow room", "", fmtSpread(spreadOf(sl.slowPP), fmtNum), fmtSpread(spreadOf(both.slowPP), fmtNum)},
			{"copies dropped per payload (receiver)", fmtSpread(spreadOf(f.dups), fmtNum), fmtSpread(spreadOf(sl.dups), fmtNum), fmtSpread(spreadOf(both.dups), fmtNum)},
		},
		Latencies: []series{{"rooms: fast alone", f.all}, {"rooms: fast + slow", both.all}},
		Unit:      "ms",
	}
	// The fast room wins: the median with both is far below the slow
	// room's post time.
	sec.Met = yes(spreadOf(both.p50).Med < ms(roomsSlowPost)/4)
	if !*sec.Met {
		sec.Notes = append(sec.Notes, "Not met: with both rooms, delivery waited for the slow room.")
	}
	return sec, nil
}
