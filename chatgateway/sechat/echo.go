package sechat

import (
	"context"
	"sync"
)

// maxRemembered bounds how many own posts a Dialer remembers for their echo.
const maxRemembered = 64

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
		if len(m.order) == maxRemembered {
			delete(m.posted, m.order[0])
			m.order = m.order[1:]
		}
		m.posted[id] = text
		m.order = append(m.order, id)
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
	delete(m.posted, id)
	return text, ok
}

// await returns the text of own post id once every post numbered up to
// upTo has been answered, or false at once when none is in flight and id
// is not remembered, or when ctx ends.
func (m *echoes) await(ctx context.Context, id int64, upTo uint64) (string, bool) {
	for {
		m.mu.Lock()
		text, ok := m.posted[id]
		if ok {
			delete(m.posted, id)
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
