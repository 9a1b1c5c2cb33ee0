package sechat

import (
	"context"
	"sync"
)

// maxRemembered and maxRememberedBytes bound the own posts a Dialer
// remembers for their echoes. Posting runs ahead of reading when the room
// is busy (Read has the others' messages to fetch too): with 64, a node
// posting as fast as it could forgot its posts before their echoes came,
// and fetched them.
const (
	maxRemembered      = 1024
	maxRememberedBytes = 4 << 20
)

// echoes remembers what a Dialer's conns posted, so that the echo of an
// own post, which the socket brings back like anyone's message, needs no
// fetch of its plain source. The echo often arrives before the post's
// answer (the server pushes it to every socket first): Read then waits for
// the posts in flight when the echo was read to be answered, rather than
// fetch what it is about to learn.
type echoes struct {
	mu     sync.Mutex
	posted map[int64]string // by message id
	order  []int64          // posted's ids, oldest first
	bytes  int              // posted's texts' length
	begun  uint64           // posts begun, numbering them from 1
	open   map[uint64]bool  // posts begun and not yet answered
	ended  chan struct{}    // closed, and replaced, when a post is answered
}

// begin records that a post is being made and returns its number.
func (m *echoes) begin() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.open == nil {
		m.open = make(map[uint64]bool)
		m.ended = make(chan struct{})
	}
	m.begun++
	m.open[m.begun] = true
	return m.begun
}

// end records post n's answer: id 0 when it gave none (a failure, or a
// post whose id SE did not say).
func (m *echoes) end(n uint64, id int64, text string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id != 0 {
		if m.posted == nil {
			m.posted = make(map[int64]string)
		}
		for len(m.order) > 0 && (len(m.order) == maxRemembered || m.bytes+len(text) > maxRememberedBytes) {
			m.forget(m.order[0])
			m.order = m.order[1:]
		}
		if len(text) <= maxRememberedBytes {
			m.posted[id] = text
			m.bytes += len(text)
			m.order = append(m.order, id)
		}
	}
	delete(m.open, n)
	close(m.ended)
	m.ended = make(chan struct{})
}

// begunSoFar is how many posts have begun: an echo read now is of one of
// them, if of this Dialer's at all.
func (m *echoes) begunSoFar() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.begun
}

// recall returns, and forgets, the text of own post id.
func (m *echoes) recall(id int64) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	text, ok := m.posted[id]
	m.forget(id)
	return text, ok
}

// forget drops post id's text, if still remembered; its id stays in order
// until it comes up there.
func (m *echoes) forget(id int64) {
	m.bytes -= len(m.posted[id])
	delete(m.posted, id)
}

// await returns the text of own post id once every post numbered up to
// upTo has been answered, or false at once when none is in flight and id
// is not remembered, or when ctx ends.
func (m *echoes) await(ctx context.Context, id int64, upTo uint64) (string, bool) {
	for {
		m.mu.Lock()
		text, ok := m.posted[id]
		if ok {
			m.forget(id)
			m.mu.Unlock()
			return text, true
		}
		waiting := false
		for n := range m.open {
			if n <= upTo {
				waiting = true
				break
			}
		}
		ended := m.ended
		m.mu.Unlock()
		if !waiting {
			return "", false
		}
		select {
		case <-ended:
		case <-ctx.Done():
			return "", false
		}
	}
}
