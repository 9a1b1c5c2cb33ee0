package presence_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	socketscience "github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/presence"
)

// A Python SmokeDetector's ping shows it as a member, never elected; with
// WithSmokeDetectorPing the Go active pings as SmokeDetector does, so
// Python standbys see a live active.
func TestSmokeDetectorPings(t *testing.T) {
	c := newCluster(t, 2, presence.WithSmokeDetectorPing("Go/EC2"))
	a := c.active(10 * time.Second)

	// A Python instance on the same account: a frame with no envelope.
	frame, err := messages.Encode(socketscience.Payload{"ping": map[string]any{"location": "Henders/EC2", "timestamp": 1.7e9}})
	require.NoError(t, err)
	c.room.Say(chatgateway.Identity{UserID: 1, UserName: "smokey"}, frame)
	require.Eventually(t, func() bool {
		for _, m := range c.pres[1-a].Members() {
			if m.ID == "smokedetector:Henders/EC2" {
				return m.Role == presence.RoleSmokeDetector && m.Name == "Henders/EC2" && m.Status == presence.StatusAlive
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond)
	for _, p := range c.pres {
		require.NotContains(t, p.Holder(), "smokedetector")
	}

	// The Go active's renewals carry SmokeDetector's ping.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.room.WaitFor(ctx, func(es []memchat.Entry) bool {
		for _, e := range es {
			p, err := messages.DecodeFrame(e.Text)
			if err != nil {
				continue
			}
			if ping, ok := p["ping"].(map[string]any); ok && ping["location"] == "Go/EC2" {
				_, isFloat := ping["timestamp"].(float64)
				return isFloat
			}
		}
		return false
	})
	require.NoError(t, err)
	require.Equal(t, a, c.active(time.Second))
}
