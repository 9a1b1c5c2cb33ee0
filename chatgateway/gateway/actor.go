package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/internal/protocol"
	"github.com/socketscience/socketscience/supervisor"
	"golang.org/x/time/rate"
)

// Receive is the gateway actor.
func (g *Gateway) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		// Under g.mu: after a restart, the old connection's goroutines may
		// be telling the actor something right now.
		g.mu.Lock()
		g.self = c.Self()
		g.mu.Unlock()
		g.dial()
	case *actor.Restarting:
		g.teardown()
	case *protocol.Outbound:
		g.out.push(*m)
		g.pump()
	case *protocol.Drain:
		g.drains = append(g.drains, m)
		g.checkDrained()
	case *dialed:
		switch {
		case m.s != g.sess:
			if m.conn != nil {
				_ = m.conn.Close()
			}
		case m.err != nil:
			g.down(fmt.Errorf("dial: %w", m.err))
		default:
			g.up(m.conn)
		}
	case *readFailed:
		if m.s == g.sess {
			g.down(fmt.Errorf("read: %w", m.err))
		}
	case *posted:
		if m.s == g.sess {
			g.posted(m.err)
		}
	case *redial:
		if m.s == g.sess {
			g.dial()
		}
	case *resume:
		g.hold = nil
		g.pump()
	case *actor.Stopping:
		g.setState(State{Err: ErrStopped, Permanent: true})
		g.teardown()
		for _, t := range []supervisor.Timer{g.retry, g.hold} {
			if t != nil {
				t.Stop()
			}
		}
		g.abandon()
	case *actor.Stopped:
		close(g.stopped)
	}
}

// tell sends msg to the gateway actor from one of its goroutines or timers,
// unless the gateway is stopping: then it reports false, and nothing ends
// up as a dead letter.
func (g *Gateway) tell(msg any) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.cfg.System.Root.Send(g.self, msg)
	return true
}

func (g *Gateway) dial() {
	s := &session{}
	g.sess = s
	g.io.Go(func() {
		conn, err := g.cfg.Dialer.Dial(g.life)
		if !g.tell(&dialed{s: s, conn: conn, err: err}) && conn != nil {
			_ = conn.Close()
		}
	})
}

func (g *Gateway) up(conn chatgateway.Conn) {
	// The session is whole before anything here can panic (a Conn's
	// Limits, say): a restart's teardown then closes conn, and ends the
	// session.
	s := g.sess
	ctx, cancel := context.WithCancel(g.life)
	s.conn, s.writer, s.cancel = conn, make(chan string, 1), cancel
	lim, id := conn.Limits(), conn.Identity()
	g.out.room = id.Room
	g.ident.Store(&id)
	rl := g.log.With().Str("room", id.Room).Logger()
	g.roomLog.Store(&rl)
	g.limits.Store(&lim)
	g.base, g.learned, g.throttles = lim.PostInterval, 0, 0
	g.limiter = nil
	if lim.PostInterval > 0 {
		g.limiter = rate.NewLimiter(rate.Every(lim.PostInterval), max(lim.PostBurst, 1))
	}
	if g.ups > 0 {
		g.counters.Reconnects.Add(1)
	}
	g.ups++
	g.io.Go(func() { g.read(s) })
	g.io.Go(func() { g.write(ctx, s) })
	g.setState(State{Connected: true})
	g.logger().Info().Int64("user_id", id.UserID).Str("user", id.UserName).Int("max_message_len", lim.MaxMessageLen).Msg("connected")
	if g.cfg.OnState != nil {
		g.cfg.OnState(&protocol.ConnectionUp{Room: g.cfg.Room, RoomName: id.Room, UserID: id.UserID, UserName: id.UserName, MaxMessageLen: lim.MaxMessageLen})
	}
	g.pump()
}

// down handles a failed dial, read or post: it closes the connection, puts
// the post in flight back at the head of the queue, and dials again later.
func (g *Gateway) down(err error) {
	g.teardown()
	delay, giveUp := g.tracker.Failed()
	if errors.Is(err, chatgateway.ErrPermanent) || giveUp {
		g.setState(State{Err: err, Permanent: true})
		g.logger().Error().Err(err).Bool("gave_up", giveUp).Int("queued", g.out.len()).Msg("connection failed for good; not reconnecting")
		if g.cfg.OnState != nil {
			g.cfg.OnState(&protocol.ConnectionDown{Room: g.cfg.Room, RoomName: g.Identity().Room, Err: err, Permanent: true})
		}
		g.checkDrained()
		return
	}
	g.setState(State{Err: err})
	g.logger().Warn().Err(err).Dur("delay", delay).Int("attempt", g.tracker.Attempt()).Int("queued", g.out.len()).Msg("disconnected")
	if g.cfg.OnState != nil {
		g.cfg.OnState(&protocol.ConnectionDown{Room: g.cfg.Room, RoomName: g.Identity().Room, Err: err, RetryIn: delay})
	}
	wait := &session{}
	g.sess = wait
	g.retry = g.cfg.Clock.AfterFunc(delay, func() { g.tell(&redial{s: wait}) })
}

// teardown closes the connection, if any, and ends the session: what its
// goroutines report from now on is stale. A post in flight stays pending,
// to be posted again first.
func (g *Gateway) teardown() {
	s := g.sess
	g.sess = nil
	if s == nil || s.conn == nil {
		return
	}
	_ = s.conn.Close()
	s.cancel()
	close(s.writer)
	g.inflight = false
}

func (g *Gateway) posted(err error) {
	g.inflight = false
	var retry *chatgateway.RetryAfterError
	switch {
	case err == nil:
		g.counters.Posted.Add(1)
		g.throttles = 0
		g.release(g.out.posted(g.cfg.Clock.Now()))
	case errors.Is(err, chatgateway.ErrMessageTooLong), errors.Is(err, chatgateway.ErrRejected):
		reason := metrics.Rejected
		if errors.Is(err, chatgateway.ErrMessageTooLong) {
			reason = metrics.MessageTooLong
		}
		size := len(g.out.pending.text())
		items, bytes := g.out.drop(reason)
		g.drop(dropped{items, bytes, size, reason})
	case errors.As(err, &retry):
		// Still pending: posted again (made again if it has aged) once the
		// server allows.
		g.counters.Throttled.Add(1)
		g.throttles++
		hold := min(max(retry.After, MinRetryAfter<<min(g.throttles-1, 16)), MaxRetryAfter)
		g.learnRate(retry.After)
		g.holdFor(hold)
		g.logDrops.Do(func() {
			g.logger().Warn().Err(err).Dur("delay", hold).Msg("server is throttling posts")
		})
	default:
		g.counters.PostFailures.Add(1)
		g.down(fmt.Errorf("post: %w", err))
		return
	}
	g.pump()
}

// pump hands the writer the next post when it is idle and the server's rate
// allows: one post in flight keeps per-node order and lets a failed post be
// made again, unchanged, before anything else. What arrives while posting
// waits is merged into the next post.
func (g *Gateway) pump() {
	for g.sess != nil && g.sess.conn != nil && !g.inflight && !g.out.empty() && g.admit() {
		p, d := g.out.next(g.MaxMessageLen(), g.cfg.Clock.Now())
		if p == nil {
			g.drop(d)
			continue
		}
		g.inflight, g.granted = true, false
		g.sess.writer <- p.text()
	}
	// Dropping the last posts (too long) may have emptied the queue.
	g.checkDrained()
}

// release gives back the queue room of items posted or dropped.
func (g *Gateway) release(items, bytes int) {
	for range items {
		<-g.slots
	}
	if items > 0 || bytes > 0 {
		g.unreserve(int64(bytes))
	}
}

// drop gives up on what d describes: released, counted, logged, and
// reported by the next Drain.
func (g *Gateway) drop(d dropped) {
	g.release(d.items, d.bytes)
	for range d.items {
		g.counters.Drop(d.reason)
	}
	if g.unreported == nil {
		g.unreported = make(map[string]int)
	}
	g.unreported[d.reason.String()] += d.items
	g.logDrops.Do(func() {
		g.logger().Warn().Str("reason", d.reason.String()).Int("len", d.len).Int("max", g.MaxMessageLen()).Msg("dropped outbound post")
	})
}

func (g *Gateway) checkDrained() {
	if g.out.empty() || g.State().Permanent {
		for i, d := range g.drains {
			if i == 0 { // each drop is reported once
				d.Dropped, g.unreported = g.unreported, nil
			}
			close(d.Done)
		}
		g.drains = nil
	}
}

// abandon drops what is still queued when the gateway stops.
func (g *Gateway) abandon() {
	n, bytes := g.out.abandon(metrics.Abandoned)
	for range n {
		g.counters.Drop(metrics.Abandoned)
	}
	g.release(n, bytes)
	if n > 0 {
		g.logger().Warn().Int("count", n).Str("reason", metrics.Abandoned.String()).Msg("dropped queued posts on stop")
	}
	// A Drain still waiting here has had posts abandoned: leave its channel
	// open so that it returns ErrStopped when the gateway has stopped, not
	// nil as if everything had been posted.
	g.drains = nil
}
func (g *Gateway) setState(s State) {
	s.Since = g.cfg.Clock.Now()
	g.state.Store(&s)
	next := make(chan struct{})
	close(*g.changed.Swap(&next))
}
