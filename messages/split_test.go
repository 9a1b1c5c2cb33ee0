package messages

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A small frame of one type is split with one allocation; with more types,
// or more bytes, it takes two, and each comes out right.
func TestSplitAllocations(t *testing.T) {
	for _, c := range []struct {
		p      Payload
		allocs float64
	}{
		{Payload{"beverage": map[string]any{"message_id": 1, "beverage_type": "coffee"}}, 1},
		{Payload{"a": 1, "b": 2}, 2},
		{Payload{"blob": make([]byte, 120)}, 2},
		{Payload{"blob": make([]byte, 100)}, 1},
		{Payload{}, 1},
	} {
		content, err := Encode(c.p)
		require.NoError(t, err)
		f, err := Split(content)
		require.NoError(t, err)
		if len(c.p) == 0 {
			assert.Nil(t, f.Types)
		}
		require.Len(t, f.Types, len(c.p))
		for _, rt := range f.Types {
			var v any
			require.NoError(t, Message{Type: rt.Type, Data: rt.Data}.Decode(&v))
			assert.NotNil(t, v, rt.Type)
		}
		assert.Equal(t, c.allocs, testing.AllocsPerRun(100, func() {
			if _, err := Split(content); err != nil {
				t.Fatal(err)
			}
		}), "%v", c.p)
	}
}
