package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
	"github.com/socketscience/socketscience/observability"
)

// statusServer is the demo's second listener (-status-addr): /metrics (a
// registry of its own with the runtime's collector), /healthz, /readyz,
// and a live status page per room, /status/{room}, fed by server-sent
// events from /status/{room}/events. POST /status/{room}/kill (demo only)
// kills the bot account's WebSockets on the local chat server, as a
// network failure would; the instances reconnect.
type statusServer struct {
	URL       string
	metrics   *observability.Collector
	http      *http.Server
	ln        net.Listener
	done      chan struct{}
	mu        sync.Mutex
	rooms     map[string]*roomStatus
	interval  time.Duration
	closeOnce sync.Once
	stop      chan struct{}
}

// roomStatus is what the status page of one room shows.
type roomStatus struct {
	id, name, roomURL string
	srv               *sechattest.Server // nil on a real server: no recent frames, no kill
	roomID, botID     int64

	// failover stops the active instance (POST /status/{room}/failover);
	// nil where the demo cannot.
	failover func()

	mu        sync.Mutex
	instances []*instanceStatus
}

type instanceStatus struct {
	name   string
	active func() bool // elected (package presence)
	node   *socketscience.Node
	// handled counts callback outcomes by type and outcome, from the
	// handler observer; changes is the log of connection state changes.
	handled map[string]map[string]int64
	changes []string
	downs   int64
}

func newStatusServer(addr string, rt *socketscience.Runtime) (*statusServer, error) {
	metrics, err := observability.NewRuntimeCollector(rt)
	if err != nil {
		return nil, err
	}
	registry := prometheus.NewRegistry()
	if err := registry.Register(metrics); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &statusServer{URL: "http://" + ln.Addr().String(), metrics: metrics, ln: ln, rooms: map[string]*roomStatus{},
		done: make(chan struct{}), stop: make(chan struct{}), interval: 200 * time.Millisecond}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	health := observability.RuntimeHealthHandler(rt)
	mux.Handle("GET /healthz", health)
	mux.Handle("GET /readyz", health)
	mux.HandleFunc("GET /status/{room}", s.handlePage)
	mux.HandleFunc("GET /status/{room}/events", s.handleEvents)
	mux.HandleFunc("GET /status/{room}/json", s.handleJSON)
	mux.HandleFunc("POST /status/{room}/kill", s.handleKill)
	mux.HandleFunc("POST /status/{room}/failover", s.handleFailover)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.http.Serve(ln)
	}()
	return s, nil
}

// Close ends the event streams, then the server.
func (s *statusServer) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.http.Shutdown(ctx)
		<-s.done
	})
}

// addRoom makes the status of a room, its page at s.URL+"/status/"+id.
func (s *statusServer) addRoom(id, name, roomURL string, srv *sechattest.Server, roomID, botID int64) *roomStatus {
	r := &roomStatus{id: id, name: name, roomURL: roomURL, srv: srv, roomID: roomID, botID: botID}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rooms[id] = r
	return r
}

func (s *statusServer) pageURL(r *roomStatus) string { return s.URL + "/status/" + r.id }

// options returns the node options that feed the status of the room's
// instance: the collector's observer, joined with the page's own, and a
// state handler. attach gives the instance its node once it is made.
func (r *roomStatus) options(s *statusServer, name string, active func() bool) (opts []socketscience.Option, attach func(*socketscience.Node)) {
	in := &instanceStatus{name: name, active: active, handled: map[string]map[string]int64{}}
	r.mu.Lock()
	r.instances = append(r.instances, in)
	r.mu.Unlock()
	observe := func(e socketscience.HandlerEvent) {
		s.metrics.Observe(e)
		r.mu.Lock()
		defer r.mu.Unlock()
		if in.handled[e.Type] == nil {
			in.handled[e.Type] = map[string]int64{}
		}
		in.handled[e.Type][outcomeName(e.Outcome)]++
	}
	state := func(_ context.Context, c socketscience.StateChange) {
		r.mu.Lock()
		defer r.mu.Unlock()
		line := time.Now().Format(time.TimeOnly) + " connected as " + c.UserName
		if !c.Connected {
			in.downs++
			line = fmt.Sprintf("%s disconnected: %v (retry in %s, stopped %t)", time.Now().Format(time.TimeOnly), c.Err, c.RetryIn, c.Stopped)
		}
		in.changes = append(in.changes, line)
		if len(in.changes) > 5 {
			in.changes = in.changes[len(in.changes)-5:]
		}
	}
	return []socketscience.Option{socketscience.WithHandlerObserver(observe), socketscience.WithStateHandler(state)},
		func(n *socketscience.Node) { r.mu.Lock(); in.node = n; r.mu.Unlock() }
}

func outcomeName(o socketscience.HandlerOutcome) string {
	switch o {
	case socketscience.HandlerOK:
		return "handled"
	case socketscience.HandlerError:
		return "errors"
	case socketscience.HandlerPanic:
		return "panics"
	}
	return "other"
}

// snapshot is the JSON of /status/{room}/json and of each event.
type snapshot struct {
	Room      string             `json:"room"`
	RoomURL   string             `json:"room_url"`
	Instances []instanceSnapshot `json:"instances"`
	Frames    []string           `json:"recent_frames"`
}

type instanceSnapshot struct {
	Name        string                      `json:"name"`
	Node        string                      `json:"node"`
	Active      bool                        `json:"active"`
	State       string                      `json:"state"` // connected, disconnected, stopped, closed
	Since       time.Time                   `json:"since"`
	Error       string                      `json:"error,omitempty"`
	Disconnects int64                       `json:"disconnects"`
	Reconnects  int64                       `json:"reconnects"`
	Queued      int                         `json:"queued"`
	QueuedBytes int64                       `json:"queued_bytes"`
	Sent        int64                       `json:"sent"`
	Posted      int64                       `json:"posted"`
	Frames      int64                       `json:"frames"`
	Delivered   int64                       `json:"delivered"`
	Types       map[string]map[string]int64 `json:"types"`
	Dropped     map[string]int64            `json:"dropped"`
	Changes     []string                    `json:"changes"`
}

const recentFrames = 8

func (r *roomStatus) snapshot() snapshot {
	snap := snapshot{Room: r.name, RoomURL: r.roomURL, Instances: []instanceSnapshot{}, Frames: []string{}}
	r.mu.Lock()
	for _, in := range r.instances {
		is := instanceSnapshot{Name: in.name, Active: in.active(), State: "starting", Disconnects: in.downs,
			Types: map[string]map[string]int64{}, Dropped: map[string]int64{}, Changes: append([]string{}, in.changes...)}
		for t, m := range in.handled {
			is.Types[t] = map[string]int64{}
			for k, v := range m {
				is.Types[t][k] = v
			}
		}
		if n := in.node; n != nil {
			h, st := n.Health(), n.Stats()
			is.Node, is.Since, is.Queued, is.QueuedBytes = n.ID(), h.Since, h.Queued, h.QueuedBytes
			switch {
			case h.Closed:
				is.State = "closed"
			case h.Stopped:
				is.State = "stopped"
			case h.Connected:
				is.State = "connected"
			default:
				is.State = "disconnected"
			}
			if h.Err != nil {
				is.Error = h.Err.Error()
			}
			is.Reconnects, is.Sent, is.Posted, is.Frames, is.Delivered = st.Reconnects, st.Sent, st.Posted, st.Frames, st.Delivered
			for reason, c := range st.Dropped {
				is.Dropped[string(reason)] = c
			}
		}
		snap.Instances = append(snap.Instances, is)
	}
	r.mu.Unlock()
	if r.srv != nil {
		msgs := r.srv.Messages(r.roomID)
		if len(msgs) > recentFrames {
			msgs = msgs[len(msgs)-recentFrames:]
		}
		for _, m := range msgs {
			snap.Frames = append(snap.Frames, messageLine(m))
		}
	}
	return snap
}

func (s *statusServer) room(w http.ResponseWriter, req *http.Request) *roomStatus {
	s.mu.Lock()
	r := s.rooms[req.PathValue("room")]
	s.mu.Unlock()
	if r == nil {
		http.NotFound(w, req)
	}
	return r
}

func (s *statusServer) handleJSON(w http.ResponseWriter, req *http.Request) {
	if r := s.room(w, req); r != nil {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r.snapshot())
	}
}

// handleEvents streams the room's snapshot as server-sent events: one at
// once, then one whenever it changes (looked at every s.interval).
func (s *statusServer) handleEvents(w http.ResponseWriter, req *http.Request) {
	r := s.room(w, req)
	if r == nil {
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	var last []byte
	for {
		b, err := json.Marshal(r.snapshot())
		if err != nil {
			return
		}
		if string(b) != string(last) {
			if _, err := fmt.Fprintf(w, "event: status\ndata: %s\n\n", b); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			last = b
		}
		select {
		case <-req.Context().Done():
			return
		case <-s.stop:
			return
		case <-tick.C:
		}
	}
}

func (s *statusServer) handleKill(w http.ResponseWriter, req *http.Request) {
	r := s.room(w, req)
	if r == nil {
		return
	}
	if r.srv == nil {
		http.Error(w, "kill works on the local chat server only", http.StatusNotImplemented)
		return
	}
	r.srv.KillSockets(r.botID)
	w.WriteHeader(http.StatusNoContent)
}

// handleFailover stops the active instance, as !!/failover does.
func (s *statusServer) handleFailover(w http.ResponseWriter, req *http.Request) {
	r := s.room(w, req)
	if r == nil {
		return
	}
	if r.failover == nil {
		http.Error(w, "failover works in the local demo only", http.StatusNotImplemented)
		return
	}
	r.failover()
	w.WriteHeader(http.StatusNoContent)
}

func (s *statusServer) handlePage(w http.ResponseWriter, req *http.Request) {
	r := s.room(w, req)
	if r == nil {
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = statusPage.Execute(w, map[string]string{"Room": r.name, "RoomURL": r.roomURL, "Events": "/status/" + r.id + "/events",
		"Failover": "/status/" + r.id + "/failover"})
}

var statusPage = template.Must(template.New("status").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Status: {{.Room}}</title>
<style>
body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin-bottom:1em}
td,th{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;text-align:left}
.connected{color:green}.disconnected,.stopped,.closed{color:#b00}.active{font-weight:bold}
pre{margin:0;font-size:90%}#stream{color:#888}
</style></head><body>
<h1>Status of <a href="{{.RoomURL}}">{{.Room}}</a></h1>
<p id="stream">connecting…</p>
<p><button id="failover" type="button">Stop the active instance</button> (as <code>!!/failover</code> in the room does): watch another take over.</p>
<table id="instances"><thead><tr><th>instance</th><th>node</th><th>state</th><th>since</th><th>disconnects / reconnects</th>
<th>sent / posted / frames / delivered</th><th>per type</th><th>queue</th><th>dropped</th><th>recent changes</th></tr></thead><tbody></tbody></table>
<h2>Recent frames</h2><pre id="frames"></pre>
<script>
"use strict";
function cell(tr, text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); return td; }
function kv(m) { return Object.keys(m || {}).sort().map(k => k + ": " + (typeof m[k] === "object" ? kv(m[k]) : m[k])).join(", "); }
document.getElementById("failover").onclick = () => fetch({{.Failover}}, {method: "POST"});
const es = new EventSource({{.Events}});
es.onopen = () => { document.getElementById("stream").textContent = "live"; };
es.onerror = () => { document.getElementById("stream").textContent = "reconnecting…"; };
es.addEventListener("status", ev => {
  const s = JSON.parse(ev.data);
  const body = document.querySelector("#instances tbody");
  body.replaceChildren();
  for (const i of s.instances) {
    const tr = document.createElement("tr");
    tr.className = "instance"; tr.dataset.name = i.name; tr.dataset.state = i.state;
    cell(tr, i.name + (i.active ? " (active)" : ""), i.active ? "active name" : "name");
    cell(tr, i.node);
    cell(tr, i.state + (i.error ? " — " + i.error : ""), "state " + i.state);
    cell(tr, new Date(i.since).toLocaleTimeString());
    cell(tr, i.disconnects + " / " + i.reconnects, "disconnects");
    cell(tr, i.sent + " / " + i.posted + " / " + i.frames + " / " + i.delivered, "counts");
    cell(tr, kv(i.types), "types");
    cell(tr, i.queued + " (" + i.queued_bytes + " B)");
    cell(tr, kv(i.dropped) || "none");
    cell(tr, i.changes.join("\n"), "changes").style.whiteSpace = "pre";
    body.appendChild(tr);
  }
  document.getElementById("frames").textContent = s.recent_frames.join("\n");
});
</script></body></html>
`))
