package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/internal/syncbuf"
)

// The active instance is elected, answers each command alone (one
// beverage frame per command, however many instances), every instance
// serves, and !!/failover hands the role to another within the lease.
func TestHeadlessElectsAndFailsOver(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), testConfig(3, true), strings.NewReader(""), &out), out.String())
	s := out.String()
	require.Regexp(t, `They elected (alpha|bravo|charlie) as the active instance \(term \d+\)`, s)
	require.Equal(t, 2, strings.Count(s, "bytes: beverage)"), "each command answered once:\n%s", s)
	require.Contains(t, s, "served 6/6\n")
	m := regexp.MustCompile(`failover: (\w+) stopped; (\w+) took over \(term (\d+)\) ([\d.]+)s later`).FindStringSubmatch(s)
	require.NotNil(t, m, s)
	require.NotEqual(t, m[1], m[2])
	tm := demoTimings()
	took, err := time.ParseDuration(m[4] + "s")
	require.NoError(t, err)
	require.Less(t, took, tm.LeaseDuration+tm.Grace+tm.RenewInterval+time.Second)
}

// The status page's button stops the active instance; another takes over.
func TestStatusFailoverButton(t *testing.T) {
	out := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- run(ctx, testConfig(2, false), strings.NewReader(""), out) }()
	status := regexp.MustCompile(`Status: (\S+)`)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "They elected") }, 30*time.Second, 10*time.Millisecond)
	url := status.FindStringSubmatch(out.String())[1]
	first := regexp.MustCompile(`They elected (\w+)`).FindStringSubmatch(out.String())[1]
	page, err := http.Get(url)
	require.NoError(t, err)
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(page.Body)
	page.Body.Close()
	require.Contains(t, body.String(), `id="failover"`)
	res, err := http.Post(url+"/failover", "", nil)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusNoContent, res.StatusCode)
	// The status page shows the other instance active.
	other := map[string]string{"alpha": "bravo", "bravo": "alpha"}[first]
	require.Eventually(t, func() bool {
		res, err := http.Get(url + "/json")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		var snap snapshot
		if json.NewDecoder(res.Body).Decode(&snap) != nil {
			return false
		}
		for _, in := range snap.Instances {
			if in.Name == other {
				return in.Active
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}
