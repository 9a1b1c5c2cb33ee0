package actors

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/socketscience/socketscience/messages"
)

// maxKeptQueue is the largest queue buffer (in messages) a mailbox keeps for
// reuse once drained: a burst must not pin its high-water mark for good.
const maxKeptQueue = 4096

// mailbox is the protoactor Mailbox of the router and handler actors. It
// keeps protoactor's default semantics (system messages first, suspension,
// one message invoked at a time, a message that panics is dropped and the
// rest kept) and is cheaper per message:
//
//   - a batch (*batch, from the router) is queued with one lock and wakes
//     the actor once, yet each of its messages is still invoked on its own,
//     so a panic drops one message, as before;
//   - the consumer takes everything queued with one lock and reuses the
//     queue's buffers, so a message costs no allocation in the queue;
//   - with flush set (the router's), the actor is sent flush each time it
//     has taken every queued message, so that it can hand on what it
//     gathered as one batch per handler.
type mailbox struct {
	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
	flush      any

	status    atomic.Int32 // mailboxIdle or mailboxRunning
	suspended atomic.Bool
	sysCount  atomic.Int32
	userCount atomic.Int32

	mu   sync.Mutex
	sys  []any
	user []entry

	// Owned by the goroutine running the mailbox.
	taken   []entry
	next    int
	invoked bool // a user message since the last flush
}

const (
	mailboxIdle int32 = iota
	mailboxRunning
)

// entry is a queued user message, and the batch it is part of, if any:
// once the batch's last message has been handled, the batch goes back to
// the pool.
type entry struct {
	msg  any
	b    *batch
	last bool
}

// batch is what the router hands a handler at once: messages in order.
// kept marks a batch one of whose messages panicked: protoactor hands that
// message to the supervisor, so the batch must not be reused.
type batch struct {
	msgs []messages.Message
	kept bool
}

var batchPool = sync.Pool{New: func() any { return new(batch) }}

func newBatch() *batch { return batchPool.Get().(*batch) }

// free returns b to the pool, first dropping its references to frames.
// Every message of b must have been handled.
func (b *batch) free() {
	clear(b.msgs)
	b.msgs = b.msgs[:0]
	batchPool.Put(b)
}

// routerMailbox is the router actor's mailbox producer.
func routerMailbox(flush any) actor.MailboxProducer {
	return func() actor.Mailbox { return &mailbox{flush: flush} }
}

// handlerMailbox is a handler actor's mailbox producer.
func handlerMailbox() actor.Mailbox { return &mailbox{} }

func (m *mailbox) PostUserMessage(msg any) {
	m.mu.Lock()
	switch msg := msg.(type) {
	case *batch:
		for i := range msg.msgs {
			m.user = append(m.user, entry{msg: &msg.msgs[i], b: msg, last: i == len(msg.msgs)-1})
		}
		m.userCount.Add(int32(len(msg.msgs)))
	default:
		m.user = append(m.user, entry{msg: msg})
		m.userCount.Add(1)
	}
	m.mu.Unlock()
	m.schedule()
}

func (m *mailbox) PostSystemMessage(msg any) {
	m.mu.Lock()
	m.sys = append(m.sys, msg)
	m.sysCount.Add(1)
	m.mu.Unlock()
	m.schedule()
}

func (m *mailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker, m.dispatcher = invoker, dispatcher
}

func (m *mailbox) Start() {}

func (m *mailbox) UserMessageCount() int { return int(m.userCount.Load()) }

func (m *mailbox) schedule() {
	if m.status.CompareAndSwap(mailboxIdle, mailboxRunning) {
		m.dispatcher.Schedule(m.process)
	}
}

func (m *mailbox) process() {
	for {
		m.run()
		m.status.Store(mailboxIdle)
		// A message posted after run found none, whose poster saw the
		// mailbox running, is this goroutine's to handle.
		more := m.sysCount.Load() > 0 || !m.suspended.Load() && m.userCount.Load() > 0
		if !more || !m.status.CompareAndSwap(mailboxIdle, mailboxRunning) {
			return
		}
	}
}

func (m *mailbox) run() {
	var msg any
	var cur entry
	defer func() {
		if r := recover(); r != nil {
			if cur.b != nil {
				cur.b.kept = true
			}
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	for i, t := 0, m.dispatcher.Throughput(); ; i++ {
		if i >= t {
			i = 0
			m.flushTo()
			runtime.Gosched()
		}
		if m.sysCount.Load() > 0 {
			msg = m.popSystem()
			m.sysCount.Add(-1)
			switch msg.(type) {
			case *actor.SuspendMailbox:
				m.suspended.Store(true)
			case *actor.ResumeMailbox:
				m.suspended.Store(false)
			default:
				m.invoker.InvokeSystemMessage(msg)
			}
			continue
		}
		if m.suspended.Load() {
			return
		}
		var ok bool
		if cur, ok = m.popUser(); !ok {
			m.flushTo()
			return
		}
		m.userCount.Add(-1)
		msg = cur.msg
		m.invoked = true
		m.invoker.InvokeUserMessage(msg)
		if cur.last && !cur.b.kept {
			cur.b.free()
		}
	}
}

// flushTo sends the actor flush if it has handled a user message since it
// was last sent one.
func (m *mailbox) flushTo() {
	if m.flush != nil && m.invoked {
		m.invoked = false
		m.invoker.InvokeUserMessage(m.flush)
	}
}

func (m *mailbox) popSystem() any {
	m.mu.Lock()
	defer m.mu.Unlock()
	msg := m.sys[0]
	m.sys[0] = nil
	m.sys = m.sys[1:]
	if len(m.sys) == 0 {
		m.sys = nil
	}
	return msg
}

// popUser takes the next user message, taking everything queued at once
// when the consumer's buffer runs out.
func (m *mailbox) popUser() (entry, bool) {
	if m.next == len(m.taken) {
		spare := m.taken[:0]
		if cap(spare) > maxKeptQueue {
			spare = nil
		}
		m.mu.Lock()
		m.taken, m.user = m.user, spare
		m.mu.Unlock()
		m.next = 0
		if len(m.taken) == 0 {
			return entry{}, false
		}
	}
	e := m.taken[m.next]
	m.taken[m.next] = entry{}
	m.next++
	return e, true
}
