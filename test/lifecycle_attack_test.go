package test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/messages"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The lifecycle attack suite (issue 10): Close called where it used to hang
// or lose data, through the public API over memchat. Each test checks with
// goleak that the nodes it made leave no goroutine behind.

const attackWait = 5 * time.Second

// closeCtx is a ctx a callback passes to Close, made from the callback's own.
type closeCtx struct {
	name string
	make func(cb context.Context) (context.Context, context.CancelFunc)
	// want is nil when Close returns nil; otherwise Close returns a
	// *socketscience.CloseError naming the caller's type and wrapping want.
	want error
}

var closeCtxs = []closeCtx{
	{"callback ctx", func(cb context.Context) (context.Context, context.CancelFunc) { return cb, func() {} }, nil},
	{"derived from callback ctx", func(cb context.Context) (context.Context, context.CancelFunc) {
		return context.WithTimeout(cb, attackWait)
	}, nil},
	{"Background", func(context.Context) (context.Context, context.CancelFunc) { return context.Background(), func() {} },
		socketscience.ErrNotWaited},
	{"deadline", func(context.Context) (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 50*time.Millisecond)
	}, context.DeadlineExceeded},
}

// Close from inside a type handler, the state handler and the chat handler,
// with each kind of ctx: it returns (by the deadline, when there is one),
// the node refuses further use at once, and once the callback returns every
// goroutine of the node ends.
func TestAttackCloseFromCallback(t *testing.T) {
	for _, source := range []string{"t", "(state)", "(chat)"} {
		for _, cc := range closeCtxs {
			t.Run(source+"/"+cc.name, func(t *testing.T) {
				defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
				attackCloseFromCallback(t, source, cc)
			})
		}
	}
}

func attackCloseFromCallback(t *testing.T, source string, cc closeCtx) {
	room := memchat.NewRoom()
	type result struct {
		err     error
		elapsed time.Duration
		after   []error // Send, Post and Register from the callback after Close
	}
	results := make(chan result, 1)
	made := make(chan struct{}) // n is set and its handler registered
	var n *socketscience.Node
	var once sync.Once
	closeFrom := func(cb context.Context) {
		<-made
		once.Do(func() {
			ctx, cancel := cc.make(cb)
			defer cancel()
			start := time.Now()
			err := n.Close(ctx)
			r := result{err: err, elapsed: time.Since(start)}
			_, regErr := n.Register("u", func(context.Context, socketscience.Message) error { return nil })
			r.after = []error{n.Send(cb, socketscience.Payload{"t": 2}), n.Post(cb, "hi"), regErr}
			results <- r
		})
	}
	var opts []socketscience.Option
	switch source {
	case "(state)":
		opts = append(opts, socketscience.WithStateHandler(func(ctx context.Context, s socketscience.StateChange) {
			if s.Connected {
				closeFrom(ctx)
			}
		}))
	case "(chat)":
		opts = append(opts, socketscience.WithChatHandler(func(ctx context.Context, m messages.ChatMessage) {
			if m.Text == "!!/shutdown" {
				closeFrom(ctx)
			}
		}))
	}
	n, err := socketscience.New(room.Member(bot, "b"), opts...)
	require.NoError(t, err)
	_, err = n.Register("t", func(ctx context.Context, _ socketscience.Message) error {
		closeFrom(ctx)
		return nil
	})
	require.NoError(t, err)
	close(made)
	if source != "(state)" { // the state handler closes the node on connecting
		require.NoError(t, n.WaitConnected(context.Background()))
	}
	switch source {
	case "t":
		a := connect(t, room, "a")
		require.NoError(t, a.Send(context.Background(), socketscience.Payload{"t": 1}))
		defer func() { assert.NoError(t, a.Close(context.Background())) }()
	case "(chat)":
		room.Say(chatgateway.Identity{UserID: 7, UserName: "person"}, "!!/shutdown")
	}

	var r result
	select {
	case r = <-results:
	case <-time.After(attackWait):
		t.Fatal("Close called from a callback did not return")
	}
	if cc.want == nil {
		assert.NoError(t, r.err)
	} else {
		var ce *socketscience.CloseError
		require.ErrorAs(t, r.err, &ce)
		assert.Equal(t, []string{source}, ce.Stuck, "the calling handler, which Close could not tell from others")
		assert.ErrorIs(t, r.err, cc.want)
	}
	if cc.want == context.DeadlineExceeded {
		assert.Less(t, r.elapsed, 50*time.Millisecond+time.Second, "returned by its deadline")
	}
	for i, err := range r.after {
		assert.ErrorIs(t, err, socketscience.ErrClosed, "call %d after Close", i)
	}

	// The callback has returned: a Close from outside waits for the rest.
	ctx, cancel := context.WithTimeout(context.Background(), attackWait)
	defer cancel()
	err = n.Close(ctx)
	assert.NotErrorAs(t, err, new(*socketscience.CloseError), "stopped: %v", err)
	if cc.want == context.DeadlineExceeded {
		assert.ErrorIs(t, err, context.DeadlineExceeded, "the first Close's ctx ended before the node stopped")
	} else {
		assert.NoError(t, err)
	}
	assert.True(t, n.Health().Stopped)
}

// A handler that ignores its context cannot hold Close past its deadline:
// Close names it, and the node finishes stopping once it returns.
func TestAttackCloseWithStuckHandler(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	room := memchat.NewRoom()
	a := connect(t, room, "a")
	b := connect(t, room, "b")
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	_, err := b.Register("stuck", func(context.Context, socketscience.Message) error {
		entered <- struct{}{}
		<-release // ignores its context
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"stuck": 1}))
	<-entered

	const deadline = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	err = b.Close(ctx)
	elapsed := time.Since(start)
	var ce *socketscience.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, []string{"stuck"}, ce.Stuck)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, elapsed, deadline+time.Second, "returned by its deadline")

	// Still stuck: a second Close with a short ctx says so too.
	short, cancelShort := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancelShort()
	require.ErrorAs(t, b.Close(short), &ce)
	assert.Equal(t, []string{"stuck"}, ce.Stuck)

	close(release)
	long, cancelLong := context.WithTimeout(context.Background(), attackWait)
	defer cancelLong()
	err = b.Close(long)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the first Close's result")
	assert.NotErrorAs(t, err, new(*socketscience.CloseError), "stopped")
	require.NoError(t, a.Close(long))
}

// Sends and Posts racing Close, some of them waiting for queue room: each
// that returns nil is posted before Close returns nil; the others return
// ErrClosed, promptly.
func TestAttackCloseRacingSends(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for round := range 10 {
		room := memchat.NewRoom(memchat.WithPostRate(100*time.Microsecond, 1))
		n := connect(t, room, "n", socketscience.WithoutCoalescing(), socketscience.WithQueueSize(4))
		const senders = 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		accepted := 0
		started := make(chan struct{}, senders)
		for i := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; ; j++ {
					if j == 3 {
						started <- struct{}{}
					}
					var err error
					if i%2 == 0 {
						err = n.Send(context.Background(), socketscience.Payload{"t": fmt.Sprint(i, "-", j)})
					} else {
						err = n.Post(context.Background(), fmt.Sprint("post ", i, "-", j))
					}
					if errors.Is(err, socketscience.ErrClosed) {
						return
					}
					if !assert.NoError(t, err) {
						return
					}
					mu.Lock()
					accepted++
					mu.Unlock()
				}
			}()
		}
		for range senders {
			<-started
		}
		ctx, cancel := context.WithTimeout(context.Background(), attackWait)
		err := n.Close(ctx)
		cancel()
		wg.Wait() // every sender has seen ErrClosed
		require.NoError(t, err, "round %d", round)
		posted := 0
		for _, e := range room.Transcript() {
			if e.Via == "n" {
				posted++
			}
		}
		require.Equal(t, accepted, posted, "round %d: accepted and posted", round)
		assert.Empty(t, n.Stats().Dropped, "round %d", round)
	}
}

// Concurrent Closes, from outside and from a callback, all return and agree;
// use after Close is refused.
func TestAttackCloseConcurrentlyAndUseAfter(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	room := memchat.NewRoom()
	a := connect(t, room, "a")
	b := connect(t, room, "b")
	fromCallback := make(chan error, 1)
	entered, closing := make(chan struct{}), make(chan struct{})
	_, err := b.Register("t", func(ctx context.Context, _ socketscience.Message) error {
		close(entered)
		<-closing
		fromCallback <- b.Close(ctx)
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"t": 1}))
	<-entered

	const closers = 8
	errs := make(chan error, closers)
	for range closers {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), attackWait)
			defer cancel()
			errs <- b.Close(ctx)
		}()
	}
	close(closing) // the callback's Close races the others
	for range closers {
		select {
		case err := <-errs:
			assert.NoError(t, err)
		case <-time.After(2 * attackWait):
			t.Fatal("a concurrent Close did not return")
		}
	}
	// The outside Closes waited for the callback, which did not wait for
	// itself.
	assert.NoError(t, <-fromCallback)

	ctx := context.Background()
	assert.ErrorIs(t, b.Send(ctx, socketscience.Payload{"t": 2}), socketscience.ErrClosed)
	assert.ErrorIs(t, b.Post(ctx, "hi"), socketscience.ErrClosed)
	_, err = b.Register("u", func(context.Context, socketscience.Message) error { return nil })
	assert.ErrorIs(t, err, socketscience.ErrClosed)
	_, err = socketscience.Handle(b, "v", func(context.Context, int) error { return nil })
	assert.ErrorIs(t, err, socketscience.ErrClosed)
	assert.NoError(t, b.Close(ctx), "Close again")
	assert.NoError(t, a.Close(ctx))
	assert.Empty(t, b.Stats().Dropped)
}

// A second Close returns by its own ctx's end even while the first, with a
// ctx that never ends, still waits for the queue to be posted; it does not
// abort the first's shutdown, which posts the queue once it can.
func TestAttackSecondCloseReturnsByItsDeadline(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	room := memchat.NewRoom()
	member := room.Member(bot, "n")
	member.FailDials(1<<30, errors.New("network down"))
	n, err := socketscience.New(member, fastReconnect())
	require.NoError(t, err)
	require.NoError(t, n.Send(context.Background(), socketscience.Payload{"t": 1}))
	first := make(chan error, 1)
	go func() { first <- n.Close(context.Background()) }()
	require.Eventually(t, func() bool { return n.Health().Stopped }, attackWait, time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = n.Close(ctx)
	assert.Less(t, time.Since(start), time.Second, "returned by its deadline")
	var ce *socketscience.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Empty(t, ce.Stuck)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	member.FailDials(0, nil)
	select {
	case err := <-first:
		assert.NoError(t, err, "the queue was posted after all")
	case <-time.After(attackWait):
		t.Fatal("the first Close did not return once the connection was back")
	}
	assert.Len(t, room.Transcript(), 1)
}
