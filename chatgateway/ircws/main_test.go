package ircws_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Connections run a reader goroutine and timers; goleak checks that Close
// leaves none behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
