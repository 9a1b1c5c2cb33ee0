package sechattest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestAgoText(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		0: "just now", 4 * time.Second: "just now", 30 * time.Second: "30s ago", 90 * time.Second: "1m ago",
		3 * time.Hour: "3h ago", 50 * time.Hour: "2d ago", 800 * 24 * time.Hour: "2y ago",
	} {
		assert.Equal(t, want, agoText(now, now.Add(-d)), d)
	}
	assert.Equal(t, "n/a", agoText(now, time.Time{}))
}
