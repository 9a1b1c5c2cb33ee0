package sechat_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The tests run sechattest servers, real sockets on loopback and, end to
// end, whole nodes; goleak checks that Close leaves none of their
// goroutines behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
