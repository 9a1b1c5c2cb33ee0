package sechattest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test closes its server; goleak checks that Close left none of the
// server's goroutines (listener, net/http connections, socket readers and
// writers, keep-alive ticker) behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
