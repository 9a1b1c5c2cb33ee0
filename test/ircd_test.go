package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/internal/syncbuf"
)

// ircd is a real InspIRCd 3 (Debian's package) on loopback, with a
// WebSocket listener and a plain one, configured per
// /work/shared/notes/chatservers.md. Its connect class leaves every flood
// setting at InspIRCd's defaults (threshold 10, commandrate 1000, fakelag
// on, recvq 4096).
type ircd struct {
	bin     string
	dir     string
	wsPort  int
	tcpPort int

	mu  sync.Mutex
	cmd *exec.Cmd
	out *syncbuf.Buffer
}

// ircdBinary finds inspircd, or skips the test (fails it on CI).
func ircdBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("inspircd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/inspircd"); serr == nil {
			bin, err = "/usr/sbin/inspircd", nil
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("inspircd not found; CI must install it: apt-get install -y inspircd")
		}
		t.Skip("inspircd not found; install it with: sudo apt-get install inspircd")
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

const ircdConfig = `# Written by the test: a standalone InspIRCd 3.15 for loopback.
<server name="irc.test.local" description="loopback test server" network="TestNet">
<admin name="test" nick="test" email="test@localhost">
<path configdir="{DIR}" datadir="{DIR}/data" logdir="{DIR}/logs" runtimedir="{DIR}/run" moduledir="/usr/lib/inspircd/modules">
<bind address="127.0.0.1" port="{TCP}" type="clients">
<bind address="127.0.0.1" port="{WS}" type="clients" hook="websocket">
<module name="sha1">
<module name="websocket">
<websocket defaultmode="text">
<wsorigin allow="*">
<module name="cap">
<module name="ircv3">
<module name="ircv3_echomessage">
<module name="ircv3_servertime">
<module name="ircv3_msgid">
<module name="ircv3_ctctags">
<module name="ircv3_batch">
<module name="ircv3_labeledresponse">
# Flood settings (threshold, commandrate, fakelag, recvq, sendq) left at their defaults.
<connect name="local" allow="127.0.0.1" timeout="30" pingfreq="120" resolvehostnames="no" useident="no"
         localmax="1000" globalmax="1000" limit="5000" maxchans="50" maxconnwarn="no">
<channels users="100" opers="100">
<limits maxline="512" maxnick="30" maxchan="64" maxtopic="307">
<dns timeout="1">
<performance somaxconn="128" softlimit="2048" clonesonconnect="yes" quietbursts="yes">
<security hideserver="" userstats="Pu" announceinvites="dynamic" flatlinks="no" hidesplits="no" hideulines="no" hidebans="no" maxtargets="20">
<options prefixquit="Quit: " syntaxhints="no" announcets="yes" hostintopic="yes" pingwarning="15">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="/dev/stdout" flush="1">
`

// startIRCd writes a config into a temporary folder, starts InspIRCd in the
// foreground and waits until both ports listen; t.Cleanup stops it.
func startIRCd(t *testing.T) *ircd {
	t.Helper()
	s := &ircd{bin: ircdBinary(t), dir: t.TempDir(), wsPort: freePort(t), tcpPort: freePort(t), out: &syncbuf.Buffer{}}
	for _, sub := range []string{"data", "logs", "run"} {
		require.NoError(t, os.MkdirAll(filepath.Join(s.dir, sub), 0o755))
	}
	conf := strings.NewReplacer("{DIR}", s.dir, "{WS}", fmt.Sprint(s.wsPort), "{TCP}", fmt.Sprint(s.tcpPort)).Replace(ircdConfig)
	require.NoError(t, os.WriteFile(filepath.Join(s.dir, "inspircd.conf"), []byte(conf), 0o644))
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("inspircd output:\n%s", s.out.String())
		}
	})
	s.start(t)
	return s
}

func (s *ircd) wsURL() string  { return fmt.Sprintf("ws://127.0.0.1:%d/", s.wsPort) }
func (s *ircd) tcpURL() string { return fmt.Sprintf("irc://127.0.0.1:%d", s.tcpPort) }

// start runs the server (again) and waits until it listens.
func (s *ircd) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(s.bin, "--config", filepath.Join(s.dir, "inspircd.conf"), "--nofork", "--nopid", "--runasroot")
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = s.out, s.out
	require.NoError(t, cmd.Start())
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	for _, port := range []int{s.wsPort, s.tcpPort} {
		listening := func() bool {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		}
		require.Eventually(t, listening, wait, 10*time.Millisecond, "inspircd not listening on %d", port)
	}
}

// kill kills the server (SIGKILL: no goodbyes to its clients) and waits
// for it to exit.
func (s *ircd) kill(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// stop ends the server cleanly (SIGTERM), killing it if it lingers.
func (s *ircd) stop(t *testing.T) {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
