package matrix_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/socketscience/socketscience/chatgateway/matrix/dendritetest"
)

const (
	password = "correct horse battery staple"
	wait     = 30 * time.Second
)

// One Dendrite for the package, started by the first test that needs it:
// tests use rooms of their own, and the one that kills and restarts it
// leaves it running.
var (
	srv       *dendritetest.Server
	skipWhy   string
	roomSeq   atomic.Int64
	startOnce sync.Once
)

// The bots and a stranger.
var localparts = []string{"bot-a", "bot-b", "bot-c", "stranger"}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	code := m.Run()
	if srv != nil {
		_ = srv.Stop()
		if code != 0 {
			if b, err := os.ReadFile(srv.Dir() + "/dendrite.out"); err == nil {
				fmt.Fprintf(os.Stderr, "dendrite output (tail):\n%s\n", b[max(0, len(b)-4000):])
			}
		}
		os.RemoveAll(srv.Dir())
	}
	// Connections run requests on their callers' goroutines and the harness
	// one waiter per process: none may remain.
	if err := goleak.Find(); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		code = 1
	}
	return code
}

// needServer starts the package's Dendrite on first use (fuzzing and the
// tests without a server never start it), or skips the test when Dendrite
// is not built: never under CI=true, where the test fails instead.
func needServer(t *testing.T) {
	t.Helper()
	startOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dendrite-")
		if err == nil {
			err = setup(dir)
		}
		if err != nil {
			skipWhy = err.Error()
		}
	})
	if srv != nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Dendrite is required under CI=true: " + skipWhy)
	}
	t.Skip("Dendrite is not available: " + skipWhy)
}

func setup(dir string) (err error) {
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if _, err := dendritetest.Lookup(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	s, err := dendritetest.Start(ctx, dendritetest.Config{Dir: dir})
	if err != nil {
		return err
	}
	for _, lp := range localparts {
		if _, err := s.CreateAccount(ctx, lp, password); err != nil {
			_ = s.Stop()
			return err
		}
	}
	srv = s
	fmt.Fprintf(os.Stderr, "dendrite up with %d accounts in %v\n", len(localparts), time.Since(start).Round(time.Millisecond))
	return nil
}

// login returns a client logged in as localpart, on its own transport.
func login(t *testing.T, localpart string) *mautrix.Client {
	t.Helper()
	cli, err := mautrix.NewClient(srv.URL(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		_, err = cli.Login(ctx, &mautrix.ReqLogin{Type: mautrix.AuthTypePassword,
			Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: localpart},
			Password:   password, StoreCredentials: true})
		if err == nil || !errorsIsLimit(err) {
			break
		}
		select { // login is rate limited per address: wait as asked
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

func errorsIsLimit(err error) bool {
	var h mautrix.HTTPError
	return asHTTP(err, &h) && h.RespError != nil && h.RespError.ErrCode == "M_LIMIT_EXCEEDED"
}

// newRoom creates a public room with a fresh alias, as bot-a, and returns
// its id and alias.
func newRoom(t *testing.T) (id.RoomID, string) {
	t.Helper()
	cli := login(t, "bot-a")
	local := fmt.Sprintf("room-%d", roomSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	resp, err := cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: local, Name: local})
	if err != nil {
		t.Fatal(err)
	}
	return resp.RoomID, "#" + local + ":" + srv.ServerName()
}

func asHTTP(err error, h *mautrix.HTTPError) bool { return errors.As(err, h) }
