package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/matrix"
	"github.com/socketscience/socketscience/chatgateway/matrix/dendritetest"
)

const matrixPassword = "bench-password"

// matrixBench is one Dendrite for the scenario, with an account per member
// and a fresh room per run.
type matrixBench struct {
	srv   *dendritetest.Server
	users []string // localparts
	rooms int
}

func startMatrixBench(ctx context.Context) (*matrixBench, error) {
	dir, err := os.MkdirTemp("", "bench-dendrite-")
	if err != nil {
		return nil, err
	}
	srv, err := dendritetest.Start(ctx, dendritetest.Config{Dir: dir})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	b := &matrixBench{srv: srv}
	for i := range e2eNodes {
		u := fmt.Sprintf("bench-%d", i)
		if _, err := srv.CreateAccount(ctx, u, matrixPassword); err != nil {
			b.close()
			return nil, err
		}
		b.users = append(b.users, u)
	}
	return b, nil
}

func (b *matrixBench) close() {
	_ = b.srv.Stop()
	os.RemoveAll(b.srv.Dir())
}

// client logs member i in with a bare mautrix client.
func (b *matrixBench) client(ctx context.Context, i int) (*mautrix.Client, error) {
	cli, err := mautrix.NewClient(b.srv.URL(), "", "")
	if err != nil {
		return nil, err
	}
	_, err = cli.Login(ctx, &mautrix.ReqLogin{Type: mautrix.AuthTypePassword, StoreCredentials: true, Password: matrixPassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: b.users[i]}})
	return cli, err
}

// room creates a public room as member 0.
func (b *matrixBench) room(ctx context.Context) (id.RoomID, error) {
	cli, err := b.client(ctx, 0)
	if err != nil {
		return "", err
	}
	defer func() { _, _ = cli.Logout(ctx) }()
	b.rooms++
	resp, err := cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: fmt.Sprintf("bench %d", b.rooms)})
	if err != nil {
		return "", err
	}
	return resp.RoomID, nil
}

// matrixNodes: three Nodes over the matrix adapter, each its own account,
// each sending m payloads (sequential: only the first, one at a time).
func (b *matrixBench) matrixNodes(m int, sequential bool) (e2eResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	room, err := b.room(ctx)
	if err != nil {
		return e2eResult{}, err
	}
	var trusted []string
	for _, u := range b.users {
		trusted = append(trusted, "@"+u+":"+b.srv.ServerName())
	}
	return nodesRun(m, sequential, func(i int) (chatgateway.Dialer, []socketscience.Option, error) {
		d, err := matrix.NewDialer(matrix.Config{HomeserverURL: b.srv.URL(), Room: string(room), UserID: b.users[i], Password: matrixPassword})
		return d, []socketscience.Option{socketscience.WithTrustedAccounts(trusted...)}, err
	})
}

// matrixBare relays the same frames with bare mautrix clients: each posts
// its m frames as m.notice events, one request at a time, and long-polls
// /sync for the others'.
func (b *matrixBench) matrixBare(m int, sequential bool) (e2eResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	room, err := b.room(ctx)
	if err != nil {
		return e2eResult{}, err
	}
	t, senders := newTally(m, sequential)
	clients := make([]*mautrix.Client, e2eNodes)
	syncCtx, stopSync := context.WithCancel(ctx)
	var readers sync.WaitGroup
	defer func() { stopSync(); readers.Wait() }()
	filter := fmt.Sprintf(`{"room":{"rooms":[%q],"timeline":{"limit":100}}}`, room)
	for i := range clients {
		cli, err := b.client(ctx, i)
		if err != nil {
			return e2eResult{}, err
		}
		clients[i] = cli
		if _, err := cli.JoinRoom(ctx, string(room), nil); err != nil {
			return e2eResult{}, err
		}
		first, err := cli.FullSyncRequest(ctx, mautrix.ReqSync{FilterID: filter})
		if err != nil {
			return e2eResult{}, err
		}
		readers.Add(1)
		go func() { // ends with syncCtx
			defer readers.Done()
			since := first.NextBatch
			for syncCtx.Err() == nil {
				resp, err := cli.FullSyncRequest(syncCtx, mautrix.ReqSync{Since: since, FilterID: filter, Timeout: 30000})
				if err != nil {
					continue
				}
				since = resp.NextBatch
				now := time.Now()
				jr := resp.Rooms.Join[room]
				if jr == nil {
					continue
				}
				for _, ev := range jr.Timeline.Events {
					if cm, ok := matrix.ChatMessage(ev, room); ok {
						t.seen(i, cm.Text, now)
					}
				}
			}
		}()
	}
	return t.driveBare(ctx, senders, m, sequential, func(i int, text string) error {
		_, err := clients[i].SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgNotice, Body: text})
		return err
	})
}

func runMatrix(ctx context.Context, cfg config, _ *machine) (*section, error) {
	s := &section{
		Title:  "7. End to end over Matrix (Dendrite " + dendritetest.Version + ")",
		Header: []string{"", "Nodes", "bare mautrix", "Nodes / bare"},
		Unit:   "ms",
	}
	if _, err := dendritetest.Lookup(); err != nil {
		if os.Getenv("CI") == "true" {
			return nil, err
		}
		s.What = "Not run: Dendrite is not built."
		s.Rows = [][]string{{"skipped", oneLine(err.Error()), "", ""}}
		return s, nil
	}
	b, err := startMatrixBench(ctx)
	if err != nil {
		return nil, err
	}
	defer b.close()
	m, seqN := 30, 50
	if cfg.quick {
		m, seqN = 3, 5
	}
	if _, err := b.matrixNodes(m, false); err != nil { // warm-up
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	var nr, br, ratios, n50, n99, b50, b99 []float64
	var nAll, bAll []time.Duration
	for r := range cfg.rounds {
		order := []bool{r%2 == 0, r%2 == 1}
		var nres, bres e2eResult
		for _, nodeSide := range order {
			run := b.matrixBare
			if nodeSide {
				run = b.matrixNodes
			}
			res, err := run(m, false)
			if err != nil {
				return nil, err
			}
			lres, err := run(seqN, true)
			if err != nil {
				return nil, err
			}
			l := latencies(lres.lat)
			if nodeSide {
				nres, nr = res, append(nr, res.rate)
				n50, n99, nAll = append(n50, ms(l.P50)), append(n99, ms(l.P99)), append(nAll, lres.lat...)
			} else {
				bres, br = res, append(br, res.rate)
				b50, b99, bAll = append(b50, ms(l.P50)), append(b99, ms(l.P99)), append(bAll, lres.lat...)
			}
		}
		ratios = append(ratios, nres.rate/bres.rate)
	}
	rs := spreadOf(ratios)
	s.What = fmt.Sprintf("A real Dendrite %s on loopback (SQLite, its default rate limits, which do not cover sending messages), 3 members "+
		"of one room, each its own account. Throughput: each member sends %d ping payloads as fast as it can; a round ends when every "+
		"member has the other two's. Latency: one member sends %d payloads one at a time, each once both others have the previous one; "+
		"from Send (or the post) to the handler (or the /sync that returned the event) on each other member. Nodes: socketscience over the "+
		"matrix adapter (WithoutCoalescing, so both sides post the same number of events). Bare mautrix: the same frames (with an envelope, "+
		"as a node's) posted as m.notice events by plain mautrix-go clients, one request at a time per client, each long-polling /sync.",
		dendritetest.Version, m, seqN)
	s.Target = "Nodes ≥ 70% of the bare clients' payloads/s"
	s.Rows = [][]string{
		{"payloads/s (throughput run)", fmtSpread(spreadOf(nr), fmtRate), fmtSpread(spreadOf(br), fmtRate), fmtSpread(rs, func(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) })},
		{"latency p50 (one at a time)", fmtSpread(spreadOf(n50), fmtMs), fmtSpread(spreadOf(b50), fmtMs), ratio(spreadOf(n50).Med, spreadOf(b50).Med)},
		{"latency p99 (one at a time)", fmtSpread(spreadOf(n99), fmtMs), fmtSpread(spreadOf(b99), fmtMs), ratio(spreadOf(n99).Med, spreadOf(b99).Med)},
	}
	s.Latencies = []series{{"Matrix one at a time: Nodes", nAll}, {"Matrix one at a time: bare mautrix", bAll}}
	s.Met = yes(rs.Med >= 0.7)
	return s, nil
}
