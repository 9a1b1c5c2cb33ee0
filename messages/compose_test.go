package messages

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ComposedLen is exact, for every size class of the envelope's fields.
func TestComposedLenIsExact(t *testing.T) {
	types, err := EncodeTypes(Payload{"a": 1, "b": strings.Repeat("x", 300)})
	require.NoError(t, err)
	for _, env := range []*Envelope{
		nil,
		{Node: "n", Seq: 1, Time: 1},
		{Node: strings.Repeat("n", 40), Seq: 200, Time: -5},
		{Node: "n", Seq: 1 << 20, Time: -200, Sig: make([]byte, 32)},
		{Node: "n", Seq: math.MaxUint64, Time: math.MinInt64, Sig: make([]byte, 300)},
		{Node: "n", Seq: 70000, Time: 1 << 40},
		{Node: "n", Seq: 3, Time: 1, Offsets: []uint64{0, 70000}},
		{Node: "n", Seq: 3, Time: 1, Sig: make([]byte, 32), Offsets: []uint64{1 << 40, 0}},
	} {
		frame, err := ComposeFrame(types, env)
		require.NoError(t, err)
		assert.Equal(t, len(frame), ComposedLen(types, env), "%+v", env)
	}
}
