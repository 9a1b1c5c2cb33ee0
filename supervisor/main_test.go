package supervisor_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Trackers and clocks start no goroutines, and fakeclock's timers run on the caller's;
// goleak checks that it stays so.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
