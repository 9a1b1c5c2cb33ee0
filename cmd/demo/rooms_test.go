package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// -rooms -headless: every instance in two rooms, the first room's server
// killed between the coffee and the tea; each instance serves each once.
func TestHeadlessInTwoRoomsSurvivesOneDying(t *testing.T) {
	cfg := testConfig(3, true)
	cfg.rooms = true
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), cfg, strings.NewReader(""), &out), out.String())
	assert.Contains(t, out.String(), "Killing the first room's server")
	assert.Contains(t, out.String(), "served 6/6\n")
	assert.Contains(t, out.String(), "every payload served once")
	assert.Equal(t, 3, strings.Count(out.String(), "*serves another tea*"))
	assert.NotContains(t, out.String(), "closing:")
}
