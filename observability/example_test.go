package observability_test

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway/memchat"
	"github.com/socketscience/socketscience/observability"
)

// A bot in two rooms on one Runtime, exporting both nodes on its own
// registry, with probes beside /metrics.
func ExampleNewRuntimeCollector() {
	rt, err := socketscience.NewRuntime()
	if err != nil {
		panic(err)
	}
	defer rt.Close(context.Background())
	metrics, err := observability.NewRuntimeCollector(rt)
	if err != nil {
		panic(err)
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(metrics)

	lobby, ops := memchat.NewRoom(), memchat.NewRoom()
	for _, room := range []*memchat.Room{lobby, ops} {
		if _, err := rt.NewNode(room.Member(bot, "bot"), metrics.Observer()); err != nil {
			panic(err)
		}
	}

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	health := observability.RuntimeHealthHandler(rt)
	mux.Handle("/healthz", health)
	mux.Handle("/readyz", health)
	_ = mux // http.ListenAndServe(":9102", mux)
}
