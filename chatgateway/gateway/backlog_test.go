package gateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/socketscience/socketscience/chatgateway/gateway"
	"github.com/socketscience/socketscience/internal/protocol"
	"github.com/stretchr/testify/assert"
)

// The reader hands the router no more than the backlog allows: past it,
// the rest wait in the connection until the router has routed some, and
// none is lost.
func TestReaderWaitsForBacklog(t *testing.T) {
	h := newHarness(t)
	backlog := protocol.NewBacklog(2)
	h.start(func(c *gateway.Config) { c.Backlog = backlog })
	h.waitConnected()
	for i := range 5 {
		h.room.Say(alice, fmt.Sprint("message ", i))
	}
	count := func(n int) func([]any) bool { return func(m []any) bool { return len(m) >= n } }
	h.col.waitFor(t, "the first two", count(2))
	// Absence can only be watched for a while: the collector never
	// releases, so a third would be a reader that did not wait.
	assert.Never(t, func() bool { m, _ := h.col.snapshot(); return len(m) > 2 }, 200*time.Millisecond, 5*time.Millisecond)
	backlog.Release(3)
	msgs := h.col.waitFor(t, "all five", count(5))
	assert.Equal(t, []string{"message 0", "message 1", "message 2", "message 3", "message 4"}, chatFrom(msgs, alice.UserID))
}
