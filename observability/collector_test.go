package observability_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/observability"
	"github.com/socketscience/socketscience/supervisor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const wait = 10 * time.Second

var (
	bot      = chatgateway.Identity{UserID: 1, UserName: "bot"}
	stranger = chatgateway.Identity{UserID: 666, UserName: "stranger"}
)

// fastRedial redials within milliseconds and never gives up, so that a
// broken connection comes back within a test.
func fastRedial() socketscience.Option {
	p := supervisor.DefaultPolicy()
	p.Backoff.Initial, p.Backoff.Max, p.MaxFailures = time.Millisecond, 5*time.Millisecond, 0
	return socketscience.WithReconnectPolicy(p)
}

func newNode(t *testing.T, d chatgateway.Dialer, opts ...socketscience.Option) *socketscience.Node {
	t.Helper()
	n, err := socketscience.New(d, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { closeNode(t, n) })
	return n
}

func closeNode(t *testing.T, n *socketscience.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_ = n.Close(ctx)
}

func waitConnected(t *testing.T, n *socketscience.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, n.WaitConnected(ctx))
}

// scrape gathers reg and returns its families by name.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	byName := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	return byName
}

// sample finds the metric of family name whose labels include want; nil if
// none.
func sample(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) *dto.Metric {
	t.Helper()
	mf := scrape(t, reg)[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is the counter's or gauge's value, or the histogram's count; -1
// when there is no such series.
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	m := sample(t, reg, name, labels)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}

func lint(t *testing.T, c prometheus.Collector) {
	t.Helper()
	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	assert.Empty(t, problems)
}

// Two nodes in a room: the sender's and the receiver's families move as a
// payload flows, with the documented names, types and labels, and the
// exposition passes the linter.
func TestCollectorFamiliesMoveAsPayloadsFlow(t *testing.T) {
	room := memchat.NewRoom(memchat.WithName("lobby"))
	metrics, err := observability.NewCollector()
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(metrics))
	a := newNode(t, room.Member(bot, "a"), socketscience.WithNodeID("a"), metrics.Observer())
	b := newNode(t, room.Member(bot, "b"), socketscience.WithNodeID("b"), metrics.Observer())
	metrics.Add(a, b)
	waitConnected(t, a)
	waitConnected(t, b)
	handled := make(chan struct{}, 10)
	_, err = b.Register("beverage", func(context.Context, socketscience.Message) error { handled <- struct{}{}; return nil })
	require.NoError(t, err)
	_, err = b.Register("broken", func(context.Context, socketscience.Message) error { return errors.New("no") })
	require.NoError(t, err)
	lint(t, metrics)

	a1, b1 := map[string]string{"node": "a", "room": "lobby"}, map[string]string{"node": "b", "room": "lobby"}
	assert.Equal(t, 0.0, value(t, reg, "socketscience_payloads_sent_total", a1))
	assert.Equal(t, 1.0, value(t, reg, "socketscience_connected", a1))
	assert.Equal(t, 0.0, value(t, reg, "socketscience_dropped_total", map[string]string{"node": "b", "reason": "untrusted"}),
		"every reason has a series from the start")
	assert.Equal(t, -1.0, value(t, reg, "socketscience_handled_total", b1), "no per-type series before a handler runs")

	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"beverage": "coffee", "broken": 1}))
	<-handled
	bev := map[string]string{"node": "b", "room": "lobby", "type": "beverage"}
	require.Eventually(t, func() bool {
		return value(t, reg, "socketscience_handler_errors_total", map[string]string{"node": "b", "type": "broken"}) == 1 &&
			value(t, reg, "socketscience_handled_total", bev) == 1
	}, wait, time.Millisecond)
	assert.Equal(t, 1.0, value(t, reg, "socketscience_payloads_sent_total", a1))
	assert.Equal(t, 1.0, value(t, reg, "socketscience_posts_total", a1))
	assert.Equal(t, 1.0, value(t, reg, "socketscience_frames_received_total", b1))
	assert.Equal(t, 1.0, value(t, reg, "socketscience_handler_duration_seconds", bev), "one observation")
	assert.Equal(t, 1.0, value(t, reg, "socketscience_delivery_latency_seconds", bev), "one observation")
	assert.Equal(t, -1.0, value(t, reg, "socketscience_handled_total", map[string]string{"node": "a"}),
		"a registered no handler")
	lint(t, metrics)

	// Names and types of every family.
	families := scrape(t, reg)
	for name, kind := range map[string]dto.MetricType{
		"socketscience_payloads_sent_total":                  dto.MetricType_COUNTER,
		"socketscience_posts_total":                          dto.MetricType_COUNTER,
		"socketscience_post_failures_total":                  dto.MetricType_COUNTER,
		"socketscience_posts_throttled_total":                dto.MetricType_COUNTER,
		"socketscience_frames_received_total":                dto.MetricType_COUNTER,
		"socketscience_frames_duplicate_total":               dto.MetricType_COUNTER,
		"socketscience_types_unhandled_total":                dto.MetricType_COUNTER,
		"socketscience_handler_restarts_total":               dto.MetricType_COUNTER,
		"socketscience_reconnects_total":                     dto.MetricType_COUNTER,
		"socketscience_dropped_total":                        dto.MetricType_COUNTER,
		"socketscience_connected":                            dto.MetricType_GAUGE,
		"socketscience_stopped":                              dto.MetricType_GAUGE,
		"socketscience_connection_changed_timestamp_seconds": dto.MetricType_GAUGE,
		"socketscience_queued_posts":                         dto.MetricType_GAUGE,
		"socketscience_queued_bytes":                         dto.MetricType_GAUGE,
		"socketscience_fragments_held_bytes":                 dto.MetricType_GAUGE,
		"socketscience_handled_total":                        dto.MetricType_COUNTER,
		"socketscience_handler_errors_total":                 dto.MetricType_COUNTER,
		"socketscience_handler_duration_seconds":             dto.MetricType_HISTOGRAM,
		"socketscience_delivery_latency_seconds":             dto.MetricType_HISTOGRAM,
	} {
		if assert.Contains(t, families, name) {
			assert.Equal(t, kind, families[name].GetType(), name)
		}
	}
	var labels []string
	for _, l := range sample(t, reg, "socketscience_handled_total", bev).GetLabel() {
		labels = append(labels, l.GetName())
	}
	assert.Equal(t, []string{"node", "room", "type"}, labels)
}

// A frame from an account the node does not trust is dropped and counted
// by reason; a broken connection shows in connected and reconnects.
func TestCollectorDropsAndConnectionFailure(t *testing.T) {
	room := memchat.NewRoom(memchat.WithName("lobby"))
	metrics, err := observability.NewCollector()
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(metrics))
	member := room.Member(bot, "a")
	n := newNode(t, member, socketscience.WithNodeID("a"), fastRedial())
	metrics.Add(n)
	waitConnected(t, n)

	frame, err := messages.Encode(socketscience.Payload{"beverage": "poison"})
	require.NoError(t, err)
	room.Say(stranger, frame)
	untrusted := map[string]string{"node": "a", "room": "lobby", "reason": string(socketscience.DropUntrusted)}
	require.Eventually(t, func() bool { return value(t, reg, "socketscience_dropped_total", untrusted) == 1 }, wait, time.Millisecond)

	a := map[string]string{"node": "a"}
	assert.Equal(t, 0.0, value(t, reg, "socketscience_reconnects_total", a))
	member.FailDials(1_000_000, errors.New("server down"))
	member.Break(errors.New("socket killed"))
	require.Eventually(t, func() bool { return value(t, reg, "socketscience_connected", a) == 0 }, wait, time.Millisecond)
	assert.Equal(t, 0.0, value(t, reg, "socketscience_stopped", a), "down, not for good")
	member.FailDials(0, nil)
	require.Eventually(t, func() bool {
		return value(t, reg, "socketscience_connected", a) == 1 && value(t, reg, "socketscience_reconnects_total", a) == 1
	}, wait, time.Millisecond)
	lint(t, metrics)
}

// Types past the cap share the label "other", so senders cannot make
// series without bound.
func TestCollectorTypeCap(t *testing.T) {
	room := memchat.NewRoom()
	metrics, err := observability.NewCollector(observability.WithTypeCap(2))
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(metrics))
	n := newNode(t, room.Member(bot, "a"), socketscience.WithNodeID("a"), metrics.Observer())
	waitConnected(t, n)
	p := socketscience.Payload{}
	for _, typ := range []string{"t1", "t2", "t3", "t4", "t5"} {
		_, err := n.Register(typ, func(context.Context, socketscience.Message) error { return nil })
		require.NoError(t, err)
		p[typ] = 1
	}
	require.NoError(t, n.Send(context.Background(), p))
	count := func() (named map[string]float64, total float64) {
		named = map[string]float64{}
		for _, m := range scrape(t, reg)["socketscience_handled_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "type" {
					named[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
			total += m.GetCounter().GetValue()
		}
		return named, total
	}
	require.Eventually(t, func() bool { _, total := count(); return total == 5 }, wait, time.Millisecond)
	// Scrapes before Add (above) keep the events of a node not yet added.
	metrics.Add(n)
	named, total := count()
	assert.Equal(t, 5.0, total)
	assert.Len(t, named, 3, "two types and other: %v", named)
	assert.Equal(t, 3.0, named[observability.OtherType])
	lint(t, metrics)

	_, err = observability.NewCollector(observability.WithTypeCap(0))
	assert.Error(t, err)
}

// A runtime's collector follows its nodes: a closed node's series go.
func TestRuntimeCollector(t *testing.T) {
	rt, err := socketscience.NewRuntime()
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	metrics, err := observability.NewRuntimeCollector(rt)
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(metrics))
	room := memchat.NewRoom(memchat.WithName("lobby"))
	a, err := rt.NewNode(room.Member(bot, "a"), socketscience.WithNodeID("a"), metrics.Observer())
	require.NoError(t, err)
	b, err := rt.NewNode(room.Member(bot, "b"), socketscience.WithNodeID("b"), metrics.Observer())
	require.NoError(t, err)
	waitConnected(t, a)
	waitConnected(t, b)
	handled := make(chan struct{}, 10)
	for _, n := range []*socketscience.Node{a, b} {
		_, err = n.Register("t", func(context.Context, socketscience.Message) error { handled <- struct{}{}; return nil })
		require.NoError(t, err)
	}
	require.NoError(t, a.Send(context.Background(), socketscience.Payload{"t": 1}))
	<-handled
	<-handled
	require.Eventually(t, func() bool {
		return value(t, reg, "socketscience_handled_total", map[string]string{"node": "b", "type": "t"}) == 1
	}, wait, time.Millisecond)
	assert.Equal(t, 2, testutil.CollectAndCount(metrics, "socketscience_connected"))
	lint(t, metrics)

	require.NoError(t, b.Close(context.Background()))
	assert.Equal(t, 1, testutil.CollectAndCount(metrics, "socketscience_connected"))
	assert.Equal(t, -1.0, value(t, reg, "socketscience_handled_total", map[string]string{"node": "b"}), "b's series are gone")
	assert.Equal(t, 1.0, value(t, reg, "socketscience_handled_total", map[string]string{"node": "a"}))
}

// The help texts name their units, and nothing is registered globally.
func TestCollectorLeavesDefaultRegistryAlone(t *testing.T) {
	_, err := observability.NewCollector()
	require.NoError(t, err)
	mfs, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		assert.False(t, strings.HasPrefix(mf.GetName(), "socketscience_"), mf.GetName())
	}
}
