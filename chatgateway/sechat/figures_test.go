package sechat_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway/sechat"
)

// TestFigures measures the adapter under each hostile server, through a
// whole node on the real clock, for the closing notes. It is slow, and
// runs only with SECHAT_FIGURES=1:
//
//	SECHAT_FIGURES=1 go test -count=1 -run TestFigures -v ./chatgateway/sechat/
func TestFigures(t *testing.T) {
	if os.Getenv("SECHAT_FIGURES") == "" {
		t.Skip("figures: set SECHAT_FIGURES=1")
	}
	const window = 3 * time.Second
	for _, sc := range []struct {
		name  string
		setup func(h *hostile)
	}{
		{"409 again in 0 seconds", func(h *hostile) {
			h.on(routePost, func(w http.ResponseWriter, _ *http.Request, _ int) bool {
				answer(w, http.StatusConflict, "You can perform this action again in 0 seconds")
				return true
			})
		}},
		{"400 on the post", func(h *hostile) {
			h.on(routePost, func(w http.ResponseWriter, _ *http.Request, _ int) bool {
				answer(w, http.StatusBadRequest, "no")
				return true
			})
		}},
		{"cursor far ahead on every socket", func(h *hostile) {
			h.onOpen = func(send func(string)) { send(frameJSON(nil, 1_000_000_000_000, 1)) }
		}},
		{"503 on every plain source", func(h *hostile) {
			h.on(routePlain, func(w http.ResponseWriter, _ *http.Request, _ int) bool {
				answer(w, http.StatusServiceUnavailable, "")
				return true
			})
		}},
		{"stalled plain source", func(h *hostile) {
			h.on(routePlain, func(_ http.ResponseWriter, r *http.Request, _ int) bool {
				h.stall(r)
				return true
			})
		}},
		{"control character in the socket URL", func(h *hostile) {
			h.on(routeWSAuth, func(w http.ResponseWriter, _ *http.Request, _ int) bool {
				writeJSON(w, map[string]string{"url": h.socketURL() + "\x7f"})
				return true
			})
		}},
		{"Set-Cookie flood", func(h *hostile) {
			flood := func(w http.ResponseWriter, _ *http.Request, n int) bool {
				for i := range 500 {
					http.SetCookie(w, &http.Cookie{Name: fmt.Sprintf("f%d_%d", n, i), Value: "vvvvvvvvvvvvvvvvvvvv", Path: "/"})
				}
				return false
			}
			h.on(routePlain, flood)
			h.on(routeEvents, flood)
		}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			h := newHostile(t)
			sc.setup(h)
			cfg := h.config(t)
			cfg.Clock = nil // the real clock, as the gateway's
			log := zerolog.Nop()
			cfg.Logger = &log
			client, err := sechat.NewClient(cfg)
			require.NoError(t, err)
			n, err := socketscience.New(client.Room(hostileRoom), socketscience.WithLogger(log))
			require.NoError(t, err)
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), window)
			defer cancel()
			_ = n.Send(ctx, socketscience.Payload{"ping": map[string]any{"n": 1}})
			for i := 0; ctx.Err() == nil; i++ {
				h.sayHuman(fmt.Sprint("line ", i))
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
			el := time.Since(start).Seconds()
			t.Logf("%-36s POSTs/s %8.1f  dials/s %5.1f  plain fetches/s %6.1f",
				sc.name, float64(h.requests(routePost))/el, float64(h.requests(routeWSAuth))/el, float64(h.requests(routePlain))/el)
			cctx, ccancel := context.WithTimeout(context.Background(), waitLimit)
			defer ccancel()
			_ = n.Close(cctx)
		})
	}

	t.Run("heap under a Set-Cookie flood", func(t *testing.T) {
		h := newHostile(t)
		h.on(routePlain, func(w http.ResponseWriter, _ *http.Request, n int) bool {
			for i := range 500 {
				http.SetCookie(w, &http.Cookie{Name: fmt.Sprintf("f%d_%d", n, i), Value: "vvvvvvvvvvvvvvvvvvvv", Path: "/"})
			}
			return false
		})
		conn := h.dial(t)
		ch := reader(t, conn)
		heap := func() uint64 {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapAlloc
		}
		before := heap()
		start := time.Now()
		const lines = 15 // 7 500 cookies offered
		for i := range lines {
			h.sayHuman(fmt.Sprint("line ", i))
			nextMsg(t, ch)
		}
		el := time.Since(start)
		t.Logf("heap growth after %d fetches with 500 new cookies each: %+.2f MiB (%s for the %d lines)",
			lines, (float64(heap())-float64(before))/(1<<20), el.Round(time.Millisecond), lines)
	})

	t.Run("time to hear a frame with a stalled fetch", func(t *testing.T) {
		h := newHostile(t)
		h.on(routePlain, func(_ http.ResponseWriter, r *http.Request, n int) bool {
			if n == 1 {
				h.stall(r)
				return true
			}
			return false
		})
		const liveness = 2 * time.Second
		cfg := h.config(t)
		cfg.Clock = nil
		cfg.LivenessTimeout = liveness
		cfg.HTTPClient.Timeout = sechat.DefaultHTTPTimeout
		client, err := sechat.NewClient(cfg)
		require.NoError(t, err)
		conn := dialRoom(t, client, hostileRoom)
		ch := reader(t, conn)
		stop := make(chan struct{})
		defer close(stop)
		go func() { // keep-alives: the socket is healthy all along
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					h.keepAlive()
				}
			}
		}()
		start := time.Now()
		h.sayHuman("first")
		h.sayHuman("second")
		var heard []string
		for len(heard) < 2 {
			select {
			case r := <-ch:
				if r.err != nil {
					t.Logf("Read failed after %s: %v", time.Since(start).Round(time.Millisecond), r.err)
					return
				}
				heard = append(heard, r.msg.Text)
				t.Logf("heard %q after %s (liveness timeout %s, HTTP timeout %s)", r.msg.Text,
					time.Since(start).Round(time.Millisecond), liveness, sechat.DefaultHTTPTimeout)
			case <-time.After(2 * sechat.DefaultHTTPTimeout):
				t.Fatalf("nothing heard in %s", 2*sechat.DefaultHTTPTimeout)
			}
		}
	})
}
