package replayconn

import (
	"testing"
	"time"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReadsWhatIsReleasedCyclingThenWaits(t *testing.T) {
	c := New(chatgateway.Identity{UserID: 7, UserName: "bot"}, []string{"a", "b"})
	c.Release(3)
	var got []string
	for range 3 {
		m, err := c.Read()
		require.NoError(t, err)
		assert.Equal(t, int64(7), m.UserID)
		got = append(got, m.Text)
	}
	assert.Equal(t, []string{"a", "b", "a"}, got)
	next := make(chan string)
	go func() {
		m, _ := c.Read()
		next <- m.Text
	}()
	select {
	case s := <-next:
		t.Fatalf("read %q past what was released", s)
	case <-time.After(50 * time.Millisecond): // absence, watched for a while
	}
	c.Release(1)
	assert.Equal(t, "b", <-next)
	require.NoError(t, c.Close())
	_, err := c.Read()
	assert.ErrorIs(t, err, chatgateway.ErrConnClosed)
}

func TestCloseUnblocksRead(t *testing.T) {
	c := New(chatgateway.Identity{UserID: 1}, []string{"a"})
	done := make(chan error)
	go func() {
		_, err := c.Read()
		done <- err
	}()
	require.NoError(t, c.Close())
	assert.ErrorIs(t, <-done, chatgateway.ErrConnClosed)
}
