package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway/matrix/dendritetest"
)

// -matrix -headless on a real Dendrite (the harness's, with the accounts
// the README's recipe creates): the room is created by its alias, every
// instance serves both beverages.
func TestMatrixHeadless(t *testing.T) {
	if _, err := dendritetest.Lookup(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := dendritetest.Start(ctx, dendritetest.Config{Dir: t.TempDir()})
	require.NoError(t, err)
	defer srv.Stop()
	for _, user := range []string{"smokey-alpha", "smokey-bravo", "smokey-charlie", humanName} {
		_, err := srv.CreateAccount(ctx, user, botPassword)
		require.NoError(t, err)
	}
	cfg := testConfig(3, true)
	cfg.matrix, cfg.matrixRoom, cfg.timeout = srv.URL(), "#bots:localhost", 30*time.Second
	var out bytes.Buffer
	require.NoError(t, run(ctx, cfg, strings.NewReader(""), &out), out.String())
	assert.Contains(t, out.String(), "served 6/6\n")
	assert.Contains(t, out.String(), "joined matrix://localhost/!")
	assert.Equal(t, 3, strings.Count(out.String(), "*serves another tea*"), out.String())
}
