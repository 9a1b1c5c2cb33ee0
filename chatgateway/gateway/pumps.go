package gateway

import (
	"context"
	"errors"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/internal/protocol"
	"github.com/socketscience/socketscience/messages"
)

// session is one try at a connection: the wait before dialing again, the
// dial, and the connection it opens, until that is torn down. Each I/O
// goroutine and the redial timer report with the session they work for;
// by the time a report arrives the actor may have moved on (the connection
// failed, or the actor restarted), which shows as a session that is no
// longer g.sess, so a late report cannot touch a newer connection.
type session struct {
	conn   chatgateway.Conn // nil until dialed
	writer chan string      // the writer's input
	cancel context.CancelFunc
}

// What the I/O goroutines and timers tell the actor.
type (
	dialed struct {
		s    *session
		conn chatgateway.Conn
		err  error
	}
	readFailed struct {
		s   *session
		err error
	}
	posted struct {
		s   *session
		err error
	}
	redial struct{ s *session }
	resume struct{}
)

// read is the connection's only reader. It checks and decodes frames here,
// off the actors, and never runs user code.
func (g *Gateway) read(s *session) {
	root := g.cfg.System.Root
	id := s.conn.Identity()
	trusted := trustFor(g.cfg.TrustedUsers, g.cfg.TrustedAccounts, id)
	for {
		msg, err := s.conn.Read()
		if err != nil {
			g.tell(&readFailed{s: s, err: err})
			return
		}
		frame, err := g.in.check(msg, id.Room, trusted)
		switch {
		case err == nil:
			g.counters.Frames.Add(1)
			frame.Room = g.cfg.Room
			g.cfg.Backlog.Acquire()
			root.Send(g.cfg.Router, frame)
		case errors.Is(err, messages.ErrNotFrame):
			g.cfg.Backlog.Acquire()
			root.Send(g.cfg.Router, &protocol.ChatInbound{Chat: msg})
		case errors.Is(err, errIncomplete):
		default:
			r := dropReason(err)
			g.counters.Drop(r)
			g.logDrops.Do(func() {
				g.logger().Warn().Err(err).Str("reason", r.String()).Int64("message_id", msg.ID).Int64("user_id", msg.UserID).Str("user", msg.UserName).Msg("dropped inbound frame")
			})
		}
	}
}

// write is the connection's only writer.
func (g *Gateway) write(ctx context.Context, s *session) {
	for text := range s.writer {
		_, err := s.conn.Post(ctx, text)
		g.tell(&posted{s: s, err: err})
	}
}

func dropReason(err error) metrics.Reason {
	for _, r := range []struct {
		err    error
		reason metrics.Reason
	}{
		{messages.ErrTooLarge, metrics.TooLarge},
		{messages.ErrBadBase64, metrics.BadBase64},
		{messages.ErrBadMsgpack, metrics.BadMsgpack},
		{messages.ErrNotMap, metrics.NotMap},
		{messages.ErrNonStringKey, metrics.NonStringKey},
		{messages.ErrBadEnvelope, metrics.BadEnvelope},
		{ErrUntrusted, metrics.Untrusted},
		{messages.ErrUnsigned, metrics.Unsigned},
		{messages.ErrBadSignature, metrics.BadSignature},
		{ErrStale, metrics.Stale},
		{messages.ErrBadFragment, metrics.BadFragment},
		{messages.ErrFragmentConflict, metrics.FragmentConflict},
		{messages.ErrFragmentLimit, metrics.FragmentLimit},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return metrics.BadFrame
}
