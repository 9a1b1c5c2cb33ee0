// Package replayconn is a chatgateway.Conn whose reads return frames already
// in memory, for benchmarks of a node's inbound path: what they measure is
// the node, not a chat server, a socket or a feeding goroutine.
package replayconn

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/messages"
)

// Conn reads frames, cycling through them, each as a new chat message from
// its own account (the one a node trusts by default), as many as Release
// has let through; past that, Read waits. Posts succeed and go nowhere.
type Conn struct {
	id     chatgateway.Identity
	frames []string
	avail  atomic.Int64  // reads let through
	more   chan struct{} // a Release since Read last looked
	closed chan struct{}
	once   sync.Once

	// Owned by the reader.
	read int64
	// nextID numbers chat messages, read and posted.
	nextID atomic.Int64
}

// New returns a Conn of account id reading frames.
func New(id chatgateway.Identity, frames []string) *Conn {
	return &Conn{id: id, frames: frames, more: make(chan struct{}, 1), closed: make(chan struct{})}
}

// Release lets n more reads through.
func (c *Conn) Release(n int) {
	c.avail.Add(int64(n))
	select {
	case c.more <- struct{}{}:
	default:
	}
}

func (c *Conn) Read() (messages.ChatMessage, error) {
	select {
	case <-c.closed:
		return messages.ChatMessage{}, chatgateway.ErrConnClosed
	default:
	}
	for c.read >= c.avail.Load() {
		select {
		case <-c.more:
		case <-c.closed:
			return messages.ChatMessage{}, chatgateway.ErrConnClosed
		}
	}
	text := c.frames[c.read%int64(len(c.frames))]
	c.read++
	return messages.ChatMessage{ID: c.nextID.Add(1), UserID: c.id.UserID, UserName: c.id.UserName, Account: c.id.Account, Text: text}, nil
}

func (c *Conn) Post(context.Context, string) (int64, error) { return c.nextID.Add(1), nil }
func (c *Conn) Identity() chatgateway.Identity              { return c.id }
func (c *Conn) Limits() chatgateway.Limits                  { return chatgateway.Limits{} }

func (c *Conn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}
