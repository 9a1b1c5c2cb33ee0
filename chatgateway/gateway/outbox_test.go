package gateway

import (
	"testing"
	"time"

	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/socketscience/socketscience/internal/protocol"
	"github.com/socketscience/socketscience/messages"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Payloads keep the seq they were queued with; a merged post's envelope
// carries the first one's, and the others as offsets; each payload hears
// once how its copy ended.
func TestOutboxPayloadSeqs(t *testing.T) {
	o := outbox{node: "n", incarnation: 1, coalesce: true}
	var settled []string
	settle := func(name string) func(string) {
		return func(reason string) { settled = append(settled, name+":"+reason) }
	}
	for i, typ := range []string{"a", "b", "c"} {
		types, err := messages.EncodeTypes(messages.Payload{typ: i})
		require.NoError(t, err)
		o.push(protocol.Outbound{Types: types, Seq: uint64(10 + 2*i), Settle: settle(typ)}) // 10, 12, 14: room skipped 11 and 13
	}
	p, d := o.next(0, time.Unix(1, 0))
	require.NotNil(t, p, "%+v", d)
	f, err := messages.Split(p.text())
	require.NoError(t, err)
	assert.Equal(t, uint64(10), f.Envelope.Seq)
	assert.Equal(t, []uint64{0, 2, 4}, f.Envelope.Offsets)
	assert.Equal(t, uint64(14), f.Envelope.PayloadSeq(2))
	o.posted(time.Unix(2, 0))
	assert.Equal(t, []string{"a:", "b:", "c:"}, settled)

	// A single payload's envelope is as before: no offsets.
	types, err := messages.EncodeTypes(messages.Payload{"d": 1})
	require.NoError(t, err)
	o.push(protocol.Outbound{Types: types, Seq: 15, Settle: settle("d")})
	p, _ = o.next(0, time.Unix(3, 0))
	f, err = messages.Split(p.text())
	require.NoError(t, err)
	assert.Equal(t, uint64(15), f.Envelope.Seq)
	assert.Nil(t, f.Envelope.Offsets)
	o.drop(metrics.Rejected)
	assert.Equal(t, "d:rejected", settled[3])

	// Queued without a seq (the gateway used on its own): numbered here.
	o.push(protocol.Outbound{Types: types})
	o.push(protocol.Outbound{Text: "hi", Settle: settle("text")})
	p, _ = o.next(0, time.Unix(4, 0))
	f, err = messages.Split(p.text())
	require.NoError(t, err)
	assert.Equal(t, uint64(1), f.Envelope.Seq)
	items, _ := o.abandon(metrics.Abandoned)
	assert.Equal(t, 2, items)
	assert.Equal(t, "text:abandoned", settled[len(settled)-1])
}
