// Package observability exports socketscience nodes to Prometheus and to
// Kubernetes probes: a prometheus.Collector over the nodes' Stats, Health
// and handler events (Collector), and an http.Handler answering /healthz
// and /readyz (HealthHandler).
//
// It uses the root package's public API only (Node.Stats, Node.Health,
// Runtime.Nodes, WithHandlerObserver), as a user's own exporter would: the
// root API has no Prometheus types and grows only by hooks that any
// exporter can use, and a node without an observer does no per-callback
// work for one. docs/observability.md is the operator's recipe.
package observability
