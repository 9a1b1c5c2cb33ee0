// Package dendritetest runs a real Dendrite homeserver on loopback, for
// the matrix adapter's tests, the benchmark and the demo, as
// net/http/httptest runs an HTTP server: a monolith on SQLite files in a
// folder of its own, registration closed, accounts created with the
// shared secret, stopped by its process id.
//
// Dendrite (github.com/matrix-org/dendrite, Apache-2.0) is pinned at
// Version and built outside this module's graph, since it pins an old
// mautrix of its own:
//
//	GOFLAGS=-mod=mod GOBIN=$(dendritetest bin dir) go install \
//	    github.com/matrix-org/dendrite/cmd/{dendrite,generate-keys,generate-config,create-account}@v0.13.8
//
// .ci/run does that; BinDir says where the commands are looked for.
package dendritetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// Version is the Dendrite release the harness runs.
	Version = "v0.13.8"
	// EnvBinDir names the environment variable that points at the folder
	// holding the four Dendrite commands. Without it BinDir is
	// DefaultBinDir.
	EnvBinDir = "SOCKETSCIENCE_DENDRITE_BIN"
	// DefaultServerName is the homeserver's name: user ids are
	// @name:localhost.
	DefaultServerName = "localhost"
	// DefaultStartTimeout bounds starting: Dendrite on SQLite answers
	// /_matrix/client/versions about 8 s after it starts on 2 cores.
	DefaultStartTimeout = 90 * time.Second
	// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
	stopGrace = 10 * time.Second
	// bcryptCost replaces Dendrite's default cost of 10 so that creating
	// accounts and logging in take milliseconds; the accounts are a test's.
	bcryptCost = 4
)

// Commands are the Dendrite commands the harness runs.
var Commands = []string{"dendrite", "generate-keys", "generate-config", "create-account"}

var (
	// ErrNotBuilt: a Dendrite command is missing from BinDir.
	ErrNotBuilt = errors.New("dendritetest: the Dendrite commands are not built")
	// ErrExited: the server process ended while the harness waited for it.
	ErrExited = errors.New("dendritetest: dendrite exited")
)

// BinDir is where the Dendrite commands are looked for: $EnvBinDir if
// set, else DefaultBinDir.
func BinDir() (string, error) {
	if d := os.Getenv(EnvBinDir); d != "" {
		return d, nil
	}
	return DefaultBinDir()
}

// DefaultBinDir is the cache folder .ci/run builds the commands into:
// socketscience/dendrite-<Version>/bin under os.UserCacheDir
// ($XDG_CACHE_HOME or ~/.cache on Linux).
func DefaultBinDir() (string, error) {
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("dendritetest: %w", err)
	}
	return filepath.Join(c, "socketscience", "dendrite-"+Version, "bin"), nil
}

// InstallCommand is the shell command that builds the commands into dir.
func InstallCommand(dir string) string {
	return "GOFLAGS=-mod=mod GOBIN=" + dir + " go install github.com/matrix-org/dendrite/cmd/{" +
		strings.Join(Commands, ",") + "}@" + Version
}

// Lookup returns BinDir if it holds every command, else an error wrapping
// ErrNotBuilt that says how to build them.
func Lookup() (string, error) {
	dir, err := BinDir()
	if err != nil {
		return "", err
	}
	for _, c := range Commands {
		if st, err := os.Stat(filepath.Join(dir, c)); err != nil || st.IsDir() {
			return "", fmt.Errorf("%w: no %s in %s; build them with: %s", ErrNotBuilt, c, dir, InstallCommand(dir))
		}
	}
	return dir, nil
}

// Config is where and how to run the server. Dir is required.
type Config struct {
	// Dir holds the configuration, the signing key, the SQLite databases,
	// the logs and the server's output (dendrite.out). A Dir that already
	// holds a configuration is reused as it is: the server keeps its
	// rooms and accounts.
	Dir string
	// Addr is the loopback address to listen on. Defaults to a free port on
	// 127.0.0.1, picked at Start.
	Addr string
	// ServerName defaults to DefaultServerName.
	ServerName string
	// Output receives the server's stdout and stderr. Defaults to the file
	// dendrite.out in Dir.
	Output io.Writer
	// BinDir holds the commands. Defaults to Lookup's.
	BinDir string
}

// Server is one Dendrite process, which can be stopped and started again
// on the same folder and port.
type Server struct {
	cfg    Config
	secret string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	out    io.Writer
	outf   *os.File // Output's default, closed when the process exits
}

// Start writes a configuration into cfg.Dir (unless one is there), starts
// Dendrite and returns when it answers /_matrix/client/versions.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("dendritetest: Config.Dir is required")
	}
	if cfg.BinDir == "" {
		dir, err := Lookup()
		if err != nil {
			return nil, err
		}
		cfg.BinDir = dir
	}
	if cfg.ServerName == "" {
		cfg.ServerName = DefaultServerName
	}
	if cfg.Addr == "" {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		cfg.Addr = addr
	}
	s := &Server{cfg: cfg}
	if err := s.configure(ctx); err != nil {
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("dendritetest: picking a port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (s *Server) configPath() string { return filepath.Join(s.cfg.Dir, "dendrite.yaml") }

// configure generates the signing key and the configuration, and reads
// the shared secret back from an existing one.
func (s *Server) configure(ctx context.Context) error {
	if err := os.MkdirAll(s.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("dendritetest: %w", err)
	}
	if b, err := os.ReadFile(s.configPath()); err == nil {
		s.secret = yamlValue(string(b), "registration_shared_secret")
		return nil
	}
	if _, err := s.run(ctx, "generate-keys", "--private-key", "matrix_key.pem"); err != nil {
		return err
	}
	yaml, err := s.run(ctx, "generate-config", "-dir", s.cfg.Dir, "-server", s.cfg.ServerName)
	if err != nil {
		return err
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	s.secret = hex.EncodeToString(secret)
	conf, err := patchConfig(string(yaml), s.secret)
	if err != nil {
		return err
	}
	return os.WriteFile(s.configPath(), []byte(conf), 0o600)
}

// patchConfig sets what the generated configuration lacks: the shared
// secret that create-account needs (registration stays closed), a low
// bcrypt cost, no key servers to ask (matrix.org is unreachable and
// unwanted from a test), logs to a file only. Every edit must apply: a
// Dendrite whose output changed fails here, not later.
func patchConfig(conf, secret string) (string, error) {
	edits := []struct{ old, new string }{
		{`registration_shared_secret: ""`, `registration_shared_secret: "` + secret + `"`},
		{"bcrypt_cost: 10", fmt.Sprintf("bcrypt_cost: %d", bcryptCost)},
	}
	for _, e := range edits {
		if strings.Count(conf, e.old) != 1 {
			return "", fmt.Errorf("dendritetest: generated config has no single %q", e.old)
		}
		conf = strings.Replace(conf, e.old, e.new, 1)
	}
	return dropBlock(conf, "key_perspectives:"), nil
}

// dropBlock replaces the YAML block that starts with key (and its deeper
// indented lines) with "key: []".
func dropBlock(conf, key string) string {
	lines := strings.Split(conf, "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		trimmed := strings.TrimLeft(l, " ")
		if trimmed != key {
			out = append(out, l)
			continue
		}
		indent := len(l) - len(trimmed)
		out = append(out, l+" []")
		for i+1 < len(lines) {
			next := lines[i+1]
			nt := strings.TrimLeft(next, " ")
			deeper := len(next)-len(nt) > indent || len(next)-len(nt) == indent && strings.HasPrefix(nt, "- ")
			if nt != "" && !deeper {
				break
			}
			i++
		}
	}
	return strings.Join(out, "\n")
}

// yamlValue is the first value of key in conf, unquoted.
func yamlValue(conf, key string) string {
	for _, l := range strings.Split(conf, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+":"); ok {
			return strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return ""
}

// run runs one of the commands in Dir and returns its stdout.
func (s *Server) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.cfg.BinDir, name), args...)
	cmd.Dir = s.cfg.Dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("dendritetest: %s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// URL is the server's base URL, http://127.0.0.1:port.
func (s *Server) URL() string { return "http://" + s.cfg.Addr }

// ServerName is the homeserver's name, the part of user ids after ':'.
func (s *Server) ServerName() string { return s.cfg.ServerName }

// Dir is the server's folder.
func (s *Server) Dir() string { return s.cfg.Dir }

// PID is the running process's id, or 0.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Start starts the server again after Stop or Kill, on the same folder and
// address, and returns when it answers /_matrix/client/versions (or ctx
// ends, or DefaultStartTimeout passes, when the process is killed).
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return errors.New("dendritetest: already running")
	}
	out := s.cfg.Output
	var outf *os.File
	if out == nil {
		f, err := os.OpenFile(filepath.Join(s.cfg.Dir, "dendrite.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			s.mu.Unlock()
			return fmt.Errorf("dendritetest: %w", err)
		}
		out, outf = f, f
	}
	cmd := exec.Command(filepath.Join(s.cfg.BinDir, "dendrite"), "--config", s.configPath(), "--http-bind-address", s.cfg.Addr)
	cmd.Dir = s.cfg.Dir
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		if outf != nil {
			outf.Close()
		}
		return fmt.Errorf("dendritetest: starting dendrite: %w", err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited, s.out, s.outf = cmd, exited, out, outf
	s.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		if outf != nil {
			outf.Close()
		}
		close(exited)
	}()
	ctx, cancel := context.WithTimeout(ctx, DefaultStartTimeout)
	defer cancel()
	if err := s.awaitUp(ctx, exited); err != nil {
		_ = s.Kill()
		return err
	}
	return nil
}

// awaitUp polls /_matrix/client/versions until it answers 200.
func (s *Server) awaitUp(ctx context.Context, exited <-chan struct{}) error {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/_matrix/client/versions", nil)
		if err != nil {
			return err
		}
		if resp, err := c.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("%w before answering (output in %s)", ErrExited, filepath.Join(s.cfg.Dir, "dendrite.out"))
		case <-ctx.Done():
			return fmt.Errorf("dendritetest: dendrite did not answer at %s: %w", s.URL(), context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// Stop ends the server with SIGTERM, then SIGKILL if it has not exited
// within a grace period, and waits for the process. Stopping a stopped
// server does nothing.
func (s *Server) Stop() error { return s.signal(syscall.SIGTERM) }

// Kill ends the server with SIGKILL, as a crash would, and waits for the
// process.
func (s *Server) Kill() error { return s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(stopGrace):
		_ = cmd.Process.Kill()
		<-exited
	}
	return nil
}

// CreateAccount registers localpart with password through create-account
// (over HTTP with the shared secret: the server must be up) and returns
// the user id, @localpart:ServerName.
func (s *Server) CreateAccount(ctx context.Context, localpart, password string) (string, error) {
	if _, err := s.run(ctx, "create-account", "-config", s.configPath(), "-url", s.URL(),
		"-username", localpart, "-password", password); err != nil {
		return "", err
	}
	return "@" + localpart + ":" + s.cfg.ServerName, nil
}
