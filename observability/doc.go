// Package observability exports socketscience nodes to Prometheus and to
// Kubernetes probes: a prometheus.Collector over the nodes' Stats, Health
// and handler events (Collector), and an http.Handler answering /healthz
// and /readyz (HealthHandler).
//
// It uses the root package's public API only (Node.Stats, Node.Health,
// Runtime.Nodes, WithHandlerObserver), as a user's own exporter would: the
// library itself does not depend on Prometheus, and a bot that exports
// nothing pays nothing. docs/observability.md is the operator's recipe.
package observability
