package protocol

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitLimit = 5 * time.Second

// acquireAsync acquires b on a goroutine; the channel closes once it has.
func acquireAsync(b *Backlog) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		b.Acquire()
		close(done)
	}()
	return done
}

// waiting is whether n readers are waiting in Acquire.
func waiting(b *Backlog, n int32) func() bool {
	return func() bool { return b.sleepers.Load() == n }
}

func TestBacklogHoldsReaderBackUntilRouted(t *testing.T) {
	b := NewBacklog(2)
	b.Acquire()
	b.Acquire()
	done := acquireAsync(b)
	require.Eventually(t, waiting(b, 1), waitLimit, time.Millisecond, "the third waits")
	select {
	case <-done:
		t.Fatal("Acquire returned while the router was 2 behind")
	default:
	}
	b.Release(1)
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("Release did not let the waiting reader through")
	}
	assert.Equal(t, int64(2), b.n.Load())
}

func TestBacklogCloseLetsEveryReaderThrough(t *testing.T) {
	b := NewBacklog(1)
	b.Acquire()
	first, second := acquireAsync(b), acquireAsync(b)
	require.Eventually(t, waiting(b, 2), waitLimit, time.Millisecond)
	b.Close()
	for _, done := range []<-chan struct{}{first, second} {
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Fatal("a reader still waits after Close")
		}
	}
	b.Acquire() // and from then on, none waits
}

func TestBacklogNilHoldsNothing(t *testing.T) {
	var b *Backlog
	b.Acquire()
	b.Release(3)
	b.Close()
	assert.Equal(t, int64(DefaultBacklog), NewBacklog(0).limit)
}

// Several readers and a router that releases in batches, as the real one
// does: every message gets through, and the count never goes past the
// limit plus the readers waiting.
func TestBacklogManyReaders(t *testing.T) {
	const readers, each, limit = 4, 5000, 16
	b := NewBacklog(limit)
	sent := make(chan struct{}, readers*each)
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				b.Acquire()
				sent <- struct{}{}
			}
		}()
	}
	routed := 0
	for routed < readers*each {
		batch := 0
		select {
		case <-sent:
			batch++
		case <-time.After(waitLimit):
			t.Fatalf("no message after %d: a reader was not woken", routed)
		}
		for len(sent) > 0 && batch < 7 {
			<-sent
			batch++
		}
		require.LessOrEqual(t, b.n.Load(), int64(limit+readers))
		routed += batch
		b.Release(batch)
	}
	wg.Wait()
	assert.Zero(t, b.n.Load())
}
