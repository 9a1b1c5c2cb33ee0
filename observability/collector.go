package observability

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/socketscience/socketscience"
)

// DefaultTypeCap is how many distinct message types a Collector labels by
// name; the rest are labelled OtherType. Types are chosen by senders, and
// every label value is a time series that Prometheus keeps: a cap keeps a
// noisy or hostile room from blowing up the server's memory.
const DefaultTypeCap = 100

// OtherType is the type label of the types past the cap.
const OtherType = "other"

// Default histogram buckets, in seconds. Handlers are expected to take
// milliseconds (a callback that posts waits for the queue, not the
// server); deliveries cross a chat server, typically 100 ms to seconds,
// and minutes while a connection is down.
var (
	DefaultDurationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	DefaultLatencyBuckets  = []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
)

// Option configures a Collector.
type Option func(*config) error

type config struct {
	typeCap         int
	durationBuckets []float64
	latencyBuckets  []float64
}

// WithTypeCap sets how many distinct message types get a type label of
// their own, n >= 1; later ones share OtherType. Defaults to
// DefaultTypeCap.
func WithTypeCap(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("observability: WithTypeCap(%d): must be at least 1", n)
		}
		c.typeCap = n
		return nil
	}
}

// WithDurationBuckets sets the handler duration histogram's buckets, in
// seconds, increasing. Defaults to DefaultDurationBuckets.
func WithDurationBuckets(b ...float64) Option {
	return func(c *config) error { c.durationBuckets = b; return nil }
}

// WithLatencyBuckets sets the delivery latency histogram's buckets, in
// seconds, increasing. Defaults to DefaultLatencyBuckets.
func WithLatencyBuckets(b ...float64) Option {
	return func(c *config) error { c.latencyBuckets = b; return nil }
}

// Collector is a prometheus.Collector for a set of nodes: the figures of
// Node.Stats and Node.Health, read at each scrape, and per-type handler
// counts and histograms, fed by Observe. Register it on your own registry;
// nothing here touches prometheus.DefaultRegisterer. Its methods are safe
// for concurrent use.
//
// Node IDs label the series, so they must be unique among the nodes of one
// Collector (they are random unless WithNodeID); a second node with the
// same ID is left out of the scrape rather than fail it.
type Collector struct {
	cfg   config
	nodes func() []*socketscience.Node // the nodes to report, at each scrape

	mu    sync.RWMutex
	added []*socketscience.Node // Add's, for a Collector made by NewCollector
	types map[string]struct{}   // types with a label of their own, at most cfg.typeCap
	// listed are the node IDs the last scrape reported: an ID listed once
	// and then no more has its per-type series deleted. One never listed
	// keeps them, so that events of a node not yet Added are not lost.
	listed map[string]struct{}

	handled, errors, panics *prometheus.CounterVec
	duration, latency       *prometheus.HistogramVec
}

// NewCollector returns a Collector for the nodes given to its Add. Give
// each node Observer() (or WithHandlerObserver(c.Observe)) when you make
// it, for the per-type families:
//
//	metrics, err := observability.NewCollector()
//	node, err := socketscience.New(dialer, metrics.Observer())
//	metrics.Add(node)
//	registry.MustRegister(metrics)
func NewCollector(opts ...Option) (*Collector, error) {
	c, err := newCollector(opts)
	if err != nil {
		return nil, err
	}
	c.nodes = func() []*socketscience.Node {
		c.mu.Lock()
		defer c.mu.Unlock()
		return append([]*socketscience.Node(nil), c.added...)
	}
	return c, nil
}

// NewRuntimeCollector returns a Collector for the nodes of rt that are
// open at each scrape (Runtime.Nodes): a node is reported from NewNode
// until its Close has finished. Make each node with Observer() for the
// per-type families.
func NewRuntimeCollector(rt *socketscience.Runtime, opts ...Option) (*Collector, error) {
	c, err := newCollector(opts)
	if err != nil {
		return nil, err
	}
	c.nodes = rt.Nodes
	return c, nil
}

func newCollector(opts []Option) (*Collector, error) {
	cfg := config{typeCap: DefaultTypeCap, durationBuckets: DefaultDurationBuckets, latencyBuckets: DefaultLatencyBuckets}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("observability: nil Option")
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	perType := []string{labelNode, labelRoom, labelType}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, perType)
	}
	return &Collector{
		cfg:     cfg,
		types:   make(map[string]struct{}),
		listed:  make(map[string]struct{}),
		handled: counter("handled_total", "Payload callback calls that returned nil, by message type."),
		errors:  counter("handler_errors_total", "Payload callback calls that returned an error, by message type."),
		panics:  counter("handler_panics_total", "Payload callback calls that panicked, by message type."),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "handler_duration_seconds",
			Help: "How long payload callbacks ran, by message type, whatever their outcome.", Buckets: cfg.durationBuckets}, perType),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "delivery_latency_seconds",
			Help:    "From the sender's envelope time to the callback's start, by message type; includes the clock skew between sender and receiver, negatives counted as 0.",
			Buckets: cfg.latencyBuckets}, perType),
	}, nil
}

// Add adds nodes to a Collector made by NewCollector; a Collector made by
// NewRuntimeCollector follows its runtime and ignores Add.
func (c *Collector) Add(nodes ...*socketscience.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.added = append(c.added, nodes...)
}

// Remove stops reporting node; its per-type series go at the next scrape
// (if an earlier one reported it).
func (c *Collector) Remove(node *socketscience.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, n := range c.added {
		if n == node {
			c.added = append(c.added[:i:i], c.added[i+1:]...)
			return
		}
	}
}

// Observer is the node option that feeds c: WithHandlerObserver(c.Observe).
func (c *Collector) Observer() socketscience.Option {
	return socketscience.WithHandlerObserver(c.Observe)
}

// Observe records one handler event. It is cheap (a few map lookups and
// atomic adds) and never blocks for long, as WithHandlerObserver requires.
func (c *Collector) Observe(e socketscience.HandlerEvent) {
	typ := c.typeLabel(e.Type)
	labels := []string{e.Node, e.Room, typ}
	switch e.Outcome {
	case socketscience.HandlerOK:
		c.handled.WithLabelValues(labels...).Inc()
	case socketscience.HandlerError:
		c.errors.WithLabelValues(labels...).Inc()
	case socketscience.HandlerPanic:
		c.panics.WithLabelValues(labels...).Inc()
	}
	c.duration.WithLabelValues(labels...).Observe(e.Duration.Seconds())
	if !e.Sent.IsZero() {
		c.latency.WithLabelValues(labels...).Observe(max(e.Started.Sub(e.Sent), 0).Seconds())
	}
}

// typeLabel is typ, or OtherType once the cap is reached by other types.
// Known types take a read lock only: handlers of many types observe at
// once.
func (c *Collector) typeLabel(typ string) string {
	c.mu.RLock()
	_, ok := c.types[typ]
	full := len(c.types) >= c.cfg.typeCap
	c.mu.RUnlock()
	switch {
	case ok:
		return typ
	case full:
		return OtherType
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.types[typ]; !ok {
		if len(c.types) >= c.cfg.typeCap {
			return OtherType
		}
		c.types[typ] = struct{}{}
	}
	return typ
}

// Describe sends the descriptors of every family.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range nodeDescs {
		ch <- d.desc
	}
	ch <- droppedDesc
	c.vecs(func(v prometheus.Collector) { v.Describe(ch) })
}

// Collect reads each node's Stats and Health, and sends them with the
// per-type series. Per-type series of nodes no longer reported (closed
// and gone from their Runtime, or Removed) since the last scrape are
// dropped first.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	nodes := c.nodes()
	seen := make(map[string]struct{}, len(nodes))
	for _, n := range nodes {
		id := n.ID()
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		collectNode(ch, id, n.Health(), n.Stats())
	}
	c.prune(seen)
	c.vecs(func(v prometheus.Collector) { v.Collect(ch) })
}

func (c *Collector) prune(listed map[string]struct{}) {
	c.mu.Lock()
	var gone []string
	for id := range c.listed {
		if _, ok := listed[id]; !ok {
			gone = append(gone, id)
		}
	}
	c.listed = listed
	c.mu.Unlock()
	for _, id := range gone {
		c.vecs(func(v prometheus.Collector) {
			v.(interface {
				DeletePartialMatch(prometheus.Labels) int
			}).DeletePartialMatch(prometheus.Labels{labelNode: id})
		})
	}
}

func (c *Collector) vecs(f func(prometheus.Collector)) {
	for _, v := range []prometheus.Collector{c.handled, c.errors, c.panics, c.duration, c.latency} {
		f(v)
	}
}

var _ prometheus.Collector = (*Collector)(nil)
