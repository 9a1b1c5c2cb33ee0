package observability

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/socketscience/socketscience"
)

const (
	namespace   = "socketscience"
	labelNode   = "node"   // Node.ID
	labelRoom   = "room"   // Health().Room: chatgateway.Identity.Room; empty until the first connection
	labelType   = "type"   // the message type, or OtherType past the cap
	labelReason = "reason" // a socketscience.DropReason
)

// nodeDesc is one family read from a node's Stats and Health at a scrape.
type nodeDesc struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(socketscience.Health, socketscience.Stats) float64
}

func newDesc(name, help string, kind prometheus.ValueType, value func(socketscience.Health, socketscience.Stats) float64) nodeDesc {
	return nodeDesc{desc: prometheus.NewDesc(namespace+"_"+name, help, []string{labelNode, labelRoom}, nil), kind: kind, value: value}
}

func counter(name, help string, v func(socketscience.Stats) int64) nodeDesc {
	return newDesc(name, help, prometheus.CounterValue, func(_ socketscience.Health, s socketscience.Stats) float64 { return float64(v(s)) })
}

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var nodeDescs = []nodeDesc{
	counter("payloads_sent_total", "Payloads accepted by Send.", func(s socketscience.Stats) int64 { return s.Sent }),
	counter("posts_total", "Chat posts made: payloads' frames and fragments, and Post texts.", func(s socketscience.Stats) int64 { return s.Posted }),
	counter("post_failures_total", "Posts that failed and were queued again.", func(s socketscience.Stats) int64 { return s.PostFailures }),
	counter("posts_throttled_total", "Posts the server said to retry later.", func(s socketscience.Stats) int64 { return s.Throttled }),
	counter("frames_received_total", "Valid frames read from the room, the node's own and duplicates included.", func(s socketscience.Stats) int64 { return s.Frames }),
	counter("frames_duplicate_total", "Received frames skipped as copies of frames handled before.", func(s socketscience.Stats) int64 { return s.Duplicates }),
	counter("types_unhandled_total", "Message types in received frames that nothing is registered for.", func(s socketscience.Stats) int64 { return s.Unhandled }),
	counter("handler_restarts_total", "Handler actor restarts after a panic.", func(s socketscience.Stats) int64 { return s.Restarts }),
	counter("reconnects_total", "Connections made after the first.", func(s socketscience.Stats) int64 { return s.Reconnects }),
	newDesc("connected", "1 while the node has a live connection to the room.", prometheus.GaugeValue,
		func(h socketscience.Health, _ socketscience.Stats) float64 { return flag(h.Connected) }),
	newDesc("stopped", "1 once the connection failed for good or the node closed: it will not connect again.", prometheus.GaugeValue,
		func(h socketscience.Health, _ socketscience.Stats) float64 { return flag(h.Stopped) }),
	newDesc("connection_changed_timestamp_seconds", "When the connection state last changed, Unix time.", prometheus.GaugeValue,
		func(h socketscience.Health, _ socketscience.Stats) float64 { return float64(h.Since.UnixNano()) / 1e9 }),
	newDesc("queued_posts", "Posts waiting to go out, including the one in flight.", prometheus.GaugeValue,
		func(h socketscience.Health, _ socketscience.Stats) float64 { return float64(h.Queued) }),
	newDesc("queued_bytes", "Bytes held by the queued posts, bounded by WithQueueBytes.", prometheus.GaugeValue,
		func(h socketscience.Health, _ socketscience.Stats) float64 { return float64(h.QueuedBytes) }),
	newDesc("fragments_held_bytes", "Bytes held by incomplete fragmented payloads.", prometheus.GaugeValue,
		func(_ socketscience.Health, s socketscience.Stats) float64 { return float64(s.FragmentBytes) }),
}

var droppedDesc = prometheus.NewDesc(namespace+"_dropped_total", "Frames, messages and posts dropped, by reason (socketscience.DropReason).",
	[]string{labelNode, labelRoom, labelReason}, nil)

// dropReasons are reported at zero before anything is dropped, so that
// rate() and alerts see a series from the start.
var dropReasons = []socketscience.DropReason{
	socketscience.DropBadBase64, socketscience.DropBadMsgpack, socketscience.DropNotMap, socketscience.DropNonStringKey,
	socketscience.DropTooLarge, socketscience.DropBadEnvelope, socketscience.DropBadFrame, socketscience.DropUntrusted,
	socketscience.DropUnsigned, socketscience.DropBadSignature, socketscience.DropStale, socketscience.DropBadFragment,
	socketscience.DropFragmentConflict, socketscience.DropFragmentLimit, socketscience.DropFragmentTimeout,
	socketscience.DropHandlerQueueFull, socketscience.DropAbandonedInbound,
	socketscience.DropMessageTooLong, socketscience.DropRejected, socketscience.DropAbandoned,
}

func collectNode(ch chan<- prometheus.Metric, id string, h socketscience.Health, s socketscience.Stats) {
	for _, d := range nodeDescs {
		ch <- prometheus.MustNewConstMetric(d.desc, d.kind, d.value(h, s), id, h.Room)
	}
	for _, r := range dropReasons {
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(s.Dropped[r]), id, h.Room, string(r))
	}
	// A reason added to the library before this list is counted still.
	for r, n := range s.Dropped {
		if !slices.Contains(dropReasons, r) {
			ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(n), id, h.Room, string(r))
		}
	}
}
