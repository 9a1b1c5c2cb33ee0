package gateway_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway"
)

// A server that answers "retry after 0" to every post does not make the
// gateway post in a hot loop: every wait has a floor, and repeated
// refusals back off.
func TestRetryAfterZeroIsFlooredAndBacksOff(t *testing.T) {
	h := newHarness(t)
	h.start(nil)
	h.waitConnected()
	h.member.FailPosts(1000, chatgateway.RetryAfter(0, errors.New("409: again in 0 seconds")))
	h.enqueue("payload")
	var holds []time.Duration
	for range 4 {
		d := <-h.clock.scheduled
		holds = append(holds, d)
		h.clock.Advance(d)
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}, holds)
	assert.LessOrEqual(t, h.counters.Throttled.Load(), int64(5), "posts made: one per hold")
}

// One answer of "retry after an hour" neither holds the queue for an hour
// nor teaches a pace of one post an hour for good: what one answer can
// teach is capped, and the learned pace relaxes while the server accepts.
func TestHugeRetryAfterIsCappedAndForgotten(t *testing.T) {
	h := newHarness(t)
	h.start(nil)
	h.waitConnected()
	h.member.FailPosts(1, chatgateway.RetryAfter(time.Hour, errors.New("409: again in 3600 seconds")))
	h.enqueue(texts("p", 11)...)
	var waited time.Duration
	require.Eventually(t, func() bool {
		select {
		case d := <-h.clock.scheduled:
			waited += d
			h.clock.Advance(d)
		default:
		}
		return len(h.posted()) == 11
	}, waitLimit, time.Millisecond)
	assert.LessOrEqual(t, waited, 10*time.Minute, "11 posts after one hour-long answer")
}
