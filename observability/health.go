package observability

import (
	"encoding/json"
	"net/http"
	"path"
	"time"

	"github.com/socketscience/socketscience"
)

// Health endpoints' answers: the "status" field of their JSON body.
const (
	StatusOK          = "ok"
	StatusUnavailable = "unavailable"
)

// HealthReport is the JSON body of /healthz and /readyz.
type HealthReport struct {
	// Status is StatusOK (HTTP 200) or StatusUnavailable (HTTP 503).
	Status string `json:"status"`
	// Reason says why not, when no node fails on its own (no nodes).
	Reason string       `json:"reason,omitempty"`
	Nodes  []NodeHealth `json:"nodes"`
}

// NodeHealth is one node's part of a HealthReport.
type NodeHealth struct {
	Node      string    `json:"node"`
	Room      string    `json:"room"`
	OK        bool      `json:"ok"`
	Reason    string    `json:"reason,omitempty"` // why not OK
	Connected bool      `json:"connected"`
	Stopped   bool      `json:"stopped"`
	Closed    bool      `json:"closed"`
	Since     time.Time `json:"since"`
	Queued    int       `json:"queued"`
	Error     string    `json:"error,omitempty"` // why the connection last went down
}

// HealthHandler answers Kubernetes-style probes for nodes, on whatever
// paths it is mounted at, by their last element:
//
//   - /healthz (liveness): 200 while no node is closed. A node whose
//     connection is down, even for good, is still running: a restart of
//     the process would not bring back a room that refuses its
//     credentials, so liveness leaves that to readiness and to alerts.
//   - /readyz (readiness): 200 while every node is connected and not
//     stopped.
//
// Otherwise it answers 503; the JSON body (HealthReport) says which node
// fails and why. Any other path is 404.
func HealthHandler(nodes ...*socketscience.Node) http.Handler {
	return healthHandler{nodes: func() []*socketscience.Node { return nodes }}
}

// RuntimeHealthHandler is HealthHandler for the open nodes of rt at each
// request (Runtime.Nodes). With none open (none made yet, or all closed)
// both probes fail: a process whose bot is in no room is not alive.
func RuntimeHealthHandler(rt *socketscience.Runtime) http.Handler {
	return healthHandler{nodes: rt.Nodes}
}

type healthHandler struct {
	nodes func() []*socketscience.Node
}

func (hh healthHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var check func(socketscience.Health) string
	switch path.Base(r.URL.Path) {
	case "healthz":
		check = alive
	case "readyz":
		check = ready
	default:
		http.NotFound(w, r)
		return
	}
	rep := HealthReport{Status: StatusOK, Nodes: []NodeHealth{}}
	for _, n := range hh.nodes() {
		h := n.Health()
		nh := NodeHealth{Node: n.ID(), Room: h.Room, Connected: h.Connected, Stopped: h.Stopped, Closed: h.Closed,
			Since: h.Since, Queued: h.Queued, Reason: check(h)}
		nh.OK = nh.Reason == ""
		if h.Err != nil {
			nh.Error = h.Err.Error()
		}
		if !nh.OK {
			rep.Status = StatusUnavailable
		}
		rep.Nodes = append(rep.Nodes, nh)
	}
	if len(rep.Nodes) == 0 {
		rep.Status, rep.Reason = StatusUnavailable, "no open nodes"
	}
	code := http.StatusOK
	if rep.Status != StatusOK {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(rep)
}

// alive and ready return why h fails the probe, or "".
func alive(h socketscience.Health) string {
	if h.Closed {
		return "closed"
	}
	return ""
}

func ready(h socketscience.Health) string {
	switch {
	case h.Closed:
		return "closed"
	case h.Stopped:
		return "stopped: the connection failed for good"
	case !h.Connected:
		return "not connected"
	}
	return ""
}
