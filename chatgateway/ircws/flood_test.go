package ircws_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway/ircws"
)

const (
	floodBytes    = 32 << 20 // what a hostile server sends during registration
	maxHeapGrowth = 8 << 20  // what registration may keep meanwhile
)

// sendUntil writes line to the client until total bytes have gone or a
// write fails (the client hung up); it reports the bytes written.
func (sc *srvConn) sendUntil(line string, total int) int {
	n := 0
	for n < total {
		if sc.send(line) != nil {
			break
		}
		n += len(line) + 2
	}
	return n
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A server that floods the channel's PRIVMSGs between JOIN and the end of
// NAMES, or CAP LS continuation lines, cannot make registration buffer
// without bound: past the bound Dial fails with ErrRegistrationOverflow,
// and the heap stays within maxHeapGrowth.
func TestRegistrationFloodIsBounded(t *testing.T) {
	for _, kind := range transports {
		for _, flood := range []string{"privmsg", "capls"} {
			t.Run(kind+"/"+flood, func(t *testing.T) {
				srv := newFakeServer(t, kind)
				before := heapAlloc()
				ch := dialAsync(ircws.Config{URL: srv.URL, Channel: "#bots", Nick: "n"})
				sc := srv.accept()
				sc.expect("USER ")
				var sent int
				switch flood {
				case "privmsg":
					sc.mustSend("CAP * LS :", ":irc.test 001 n :hi", ":irc.test 422 n :no motd")
					sc.expect("JOIN")
					sc.mustSend(":n!u@h JOIN #bots")
					sent = sc.sendUntil(":x!y@z PRIVMSG #bots :"+strings.Repeat("p", 400), floodBytes)
				case "capls":
					sent = sc.sendUntil("CAP * LS * :"+strings.Repeat("cap-", 100), floodBytes)
				}
				growth := int64(heapAlloc()) - int64(before)
				t.Logf("%s over %s: %d KiB sent, heap grew %.2f MiB", flood, kind, sent>>10, float64(growth)/(1<<20))
				assert.Less(t, growth, int64(maxHeapGrowth))
				_ = sc.send(":irc.test 366 n #bots :end", "CAP * LS :", ":irc.test 001 n :hi", ":irc.test 422 n :no motd")
				d := dialResult(t, ch)
				t.Logf("dial: %v", d.err)
				require.Error(t, d.err)
				assert.ErrorIs(t, d.err, ircws.ErrRegistrationOverflow)
			})
		}
	}
}
