package actors

import (
	"fmt"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/messages"
)

// manualDispatcher runs nothing until the test calls run, so that what a
// mailbox does on each wake-up can be seen.
type manualDispatcher struct {
	scheduled  []func()
	throughput int
}

func (d *manualDispatcher) Schedule(fn func()) { d.scheduled = append(d.scheduled, fn) }
func (d *manualDispatcher) Throughput() int    { return d.throughput }

// run runs what was scheduled, including what that schedules.
func (d *manualDispatcher) run() {
	for len(d.scheduled) > 0 {
		fn := d.scheduled[0]
		d.scheduled = d.scheduled[1:]
		fn()
	}
}

// fakeInvoker records what the mailbox invokes, and panics on a user
// message equal to panicOn; like protoactor's actor context, it suspends
// the mailbox when it escalates.
type fakeInvoker struct {
	mb        *mailbox
	got       []string
	panicOn   string
	escalated []any
}

func (i *fakeInvoker) InvokeSystemMessage(m any) { i.got = append(i.got, fmt.Sprintf("sys:%v", m)) }

func (i *fakeInvoker) InvokeUserMessage(m any) {
	s := fmt.Sprint(m)
	switch m := m.(type) {
	case *messages.Message:
		s = m.Type
	case flushGathered:
		s = "flush"
	}
	i.got = append(i.got, s)
	if s == i.panicOn {
		panic(s)
	}
}

func (i *fakeInvoker) EscalateFailure(_ any, m any) {
	i.escalated = append(i.escalated, m)
	i.mb.PostSystemMessage(&actor.SuspendMailbox{})
}

func newTestMailbox(throughput int, flush any) (*mailbox, *fakeInvoker, *manualDispatcher) {
	mb := &mailbox{flush: flush}
	inv := &fakeInvoker{mb: mb}
	d := &manualDispatcher{throughput: throughput}
	mb.RegisterHandlers(inv, d)
	return mb, inv, d
}

func batchOf(types ...string) *batch {
	b := newBatch()
	for _, t := range types {
		b.msgs = append(b.msgs, messages.Message{Type: t})
	}
	return b
}

// A batch wakes the actor once, and each of its messages is invoked on its
// own, in order, after what was queued before it.
func TestMailboxBatchInOrderOneWakeUp(t *testing.T) {
	mb, inv, d := newTestMailbox(300, nil)
	mb.PostUserMessage("first")
	mb.PostUserMessage(batchOf("a", "b", "c"))
	mb.PostUserMessage("last")
	assert.Len(t, d.scheduled, 1, "one wake-up for everything posted while idle")
	assert.Equal(t, 5, mb.UserMessageCount())
	d.run()
	assert.Equal(t, []string{"first", "a", "b", "c", "last"}, inv.got)
	assert.Zero(t, mb.UserMessageCount())
	mb.PostUserMessage("again")
	assert.Len(t, d.scheduled, 1, "idle again: the next message wakes it")
}

// A message that panics is dropped and escalated; the rest of its batch
// waits while the mailbox is suspended and is invoked, in order, once it is
// resumed (after a restart). The batch is not reused: the supervisor holds
// the message that panicked.
func TestMailboxPanicInBatchKeepsTheRest(t *testing.T) {
	mb, inv, d := newTestMailbox(300, nil)
	inv.panicOn = "b"
	b := batchOf("a", "b", "c", "d")
	mb.PostUserMessage(b)
	d.run()
	assert.Equal(t, []string{"a", "b"}, inv.got)
	require.Len(t, inv.escalated, 1)
	assert.Equal(t, "b", inv.escalated[0].(*messages.Message).Type)
	assert.Equal(t, 2, mb.UserMessageCount())

	mb.PostSystemMessage(&actor.ResumeMailbox{})
	d.run()
	assert.Equal(t, []string{"a", "b", "c", "d"}, inv.got)
	assert.Len(t, b.msgs, 4, "a batch with a panic is kept as it is")
	assert.Equal(t, "b", inv.escalated[0].(*messages.Message).Type)
}

// A batch whose messages were all handled goes back to the pool emptied,
// holding no frame.
func TestMailboxFreesHandledBatch(t *testing.T) {
	mb, _, d := newTestMailbox(300, nil)
	b := batchOf("a", "b")
	msgs := b.msgs
	mb.PostUserMessage(b)
	d.run()
	assert.Empty(t, b.msgs)
	assert.Equal(t, []messages.Message{{}, {}}, msgs[:2], "the pooled batch holds no frame")
}

// System messages go first, and a suspended mailbox invokes none of its
// user messages.
func TestMailboxSystemFirstAndSuspension(t *testing.T) {
	mb, inv, d := newTestMailbox(300, nil)
	mb.PostUserMessage("u1")
	mb.PostSystemMessage("s1")
	mb.PostSystemMessage(&actor.SuspendMailbox{})
	mb.PostUserMessage("u2")
	d.run()
	assert.Equal(t, []string{"sys:s1"}, inv.got)
	mb.PostSystemMessage(&actor.ResumeMailbox{})
	d.run()
	assert.Equal(t, []string{"sys:s1", "u1", "u2"}, inv.got)
}

// With flush set, the actor is sent it once each time it has taken every
// queued message, and before it yields; never when it handled nothing.
func TestMailboxFlush(t *testing.T) {
	mb, inv, d := newTestMailbox(2, flushGathered{})
	for _, s := range []string{"a", "b", "c"} {
		mb.PostUserMessage(s)
	}
	d.run()
	assert.Equal(t, []string{"a", "b", "flush", "c", "flush"}, inv.got)
	mb.PostSystemMessage("s")
	d.run()
	assert.Equal(t, []string{"a", "b", "flush", "c", "flush", "sys:s"}, inv.got, "no user message, no flush")
}

// A burst's queue buffers are not kept once it has drained.
func TestMailboxDropsBigBuffers(t *testing.T) {
	mb, inv, d := newTestMailbox(1<<30, nil)
	for i := range maxKeptQueue + 1 {
		mb.PostUserMessage(i)
	}
	d.run()
	assert.Len(t, inv.got, maxKeptQueue+1)
	assert.LessOrEqual(t, cap(mb.user)+cap(mb.taken), maxKeptQueue)
}
