// Package metrics owns what every rohrpost process shares for Prometheus:
// the registry a process serves on its metrics listener, the HTTP request
// metrics, and the handler that answers scrapes. The components keep their
// own metrics beside the code they measure and hand them over as one
// prometheus.Collector each; the composition root (internal/app)
// registers them. docs/metrics.md lists every metric.
//
// A registry belongs to one process (one App), never the global default:
// tests run several servers in one binary, and each must report its own.
package metrics
