package actors

import (
	"testing"

	"go.uber.org/goleak"
)

// The router tests run a real protoactor ActorSystem whose mailboxes run on a
// goroutines.Group; goleak checks that Stop leaves no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
