package gateway_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The gateway tests run a real protoactor ActorSystem and the gateway's own
// dial, reader and writer goroutines; goleak checks that Stop (and stopping
// the collector actor) leaves none of them behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
