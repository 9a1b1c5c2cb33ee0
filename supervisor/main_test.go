package supervisor_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The strategy tests run a real protoactor ActorSystem; goleak checks that stopping the
// actors leaves no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
