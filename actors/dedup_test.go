package actors

import (
	"testing"

	"github.com/socketscience/socketscience/messages"
	"github.com/stretchr/testify/assert"
)

func TestDedup(t *testing.T) {
	d := newDedup(2, 3)
	env := func(node string, seq uint64) *messages.Envelope { return &messages.Envelope{Node: node, Seq: seq} }

	assert.False(t, d.seen(1, env("a", 10)))
	assert.True(t, d.seen(1, env("a", 10)), "the same chat message again (an edit, a replay)")
	assert.True(t, d.seen(2, env("a", 10)), "the same frame posted twice")
	assert.True(t, d.seen(3, env("a", 9)), "an older frame of a")
	assert.False(t, d.seen(4, env("a", 11)))
	assert.False(t, d.seen(5, env("b", 1)), "b's counter is its own")

	assert.False(t, d.seen(6, nil), "SmokeDetector's frames have no envelope")
	assert.False(t, d.seen(7, nil))
	assert.True(t, d.seen(7, nil), "but their chat message is not handled twice")
	assert.False(t, d.seen(0, nil), "an unknown id is never a duplicate")
	assert.False(t, d.seen(0, nil))

	// Memory is bounded: the oldest node and ids are forgotten.
	assert.False(t, d.seen(8, env("c", 1)))
	assert.Len(t, d.last, 2)
	assert.Len(t, d.ids, 3)
	assert.False(t, d.seen(9, env("a", 1)), "a was forgotten when c came")
	assert.False(t, d.seen(1, env("b", 2)), "id 1 was forgotten")
}
