package observability_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The nodes under test run actors and connection goroutines; goleak checks
// that closing them leaves none behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
