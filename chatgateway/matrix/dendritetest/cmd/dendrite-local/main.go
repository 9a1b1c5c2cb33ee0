// Command dendrite-local runs Dendrite on loopback the way the matrix
// adapter's tests do (package dendritetest): a monolith on SQLite in -dir,
// registration closed, the accounts it is given created with the shared
// secret, stopped by its process id on Ctrl-C. The demo's recipe:
//
//	go run ./chatgateway/matrix/dendritetest/cmd/dendrite-local   # http://127.0.0.1:8008, accounts for the demo
//	                                                              # (data in ~/.cache/socketscience/dendrite-local)
//	go run ./cmd/demo -matrix http://127.0.0.1:8008 -room '#bots:localhost'
//
// It needs the Dendrite commands built (see dendritetest.InstallCommand);
// a -dir that already holds a server keeps its rooms and accounts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/socketscience/socketscience/chatgateway/matrix/dendritetest"
)

func main() {
	dir := flag.String("dir", defaultDir(), "the server's folder (configuration, keys, SQLite databases, logs)")
	addr := flag.String("addr", "127.0.0.1:8008", "the loopback address to listen on")
	accounts := flag.String("accounts", "smokey-alpha,smokey-bravo,smokey-charlie,you", "accounts to create on a new server, comma-separated localparts")
	password := flag.String("password", "demo-password", "their password (the demo reads it from $MATRIX_PASSWORD, default demo-password)")
	flag.Parse()
	if err := run(*dir, *addr, strings.Split(*accounts, ","), *password); err != nil {
		fmt.Fprintln(os.Stderr, "dendrite-local:", err)
		os.Exit(1)
	}
}

// defaultDir is socketscience/dendrite-local in the user's cache folder,
// beside the commands, so that the demo's server keeps its rooms between
// runs without a folder in the working tree.
func defaultDir() string {
	c, err := os.UserCacheDir()
	if err != nil {
		return "dendrite-local"
	}
	return filepath.Join(c, "socketscience", "dendrite-local")
}

func run(dir, addr string, accounts []string, password string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, err := os.Stat(filepath.Join(dir, "dendrite.yaml"))
	fresh := errors.Is(err, os.ErrNotExist)
	start := time.Now()
	srv, err := dendritetest.Start(ctx, dendritetest.Config{Dir: dir, Addr: addr})
	if err != nil {
		return err
	}
	defer srv.Stop()
	if fresh {
		for _, a := range accounts {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			u, err := srv.CreateAccount(ctx, a, password)
			if err != nil {
				return err
			}
			fmt.Println("created", u)
		}
	}
	fmt.Printf("Dendrite %s (pid %d) serves %s in %v, its folder %s; Ctrl-C stops it.\n",
		dendritetest.Version, srv.PID(), srv.URL(), time.Since(start).Round(time.Millisecond), dir)
	<-ctx.Done()
	return nil
}
