package metrics

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Paths are where a metrics listener answers scrapes: Synapse's path,
// which operators' scrape configurations and dashboards already use, and
// Prometheus' default.
var Paths = []string{"/_synapse/metrics", "/metrics"}

// NewRegistry is a process's registry, holding the Go runtime's and the
// process's metrics (memory, goroutines, CPU, open files) from the start.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler answers scrapes of reg. A collector that fails (a database
// that does not answer) is logged and left out; the rest is still served,
// so one broken dependency does not blind the operator to the others.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slogLogger{},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg,
	})
}

type slogLogger struct{}

func (slogLogger) Println(v ...any) { slog.Warn("metrics: " + fmt.Sprint(v...)) }

// Group bundles a component's metrics into one collector.
type Group []prometheus.Collector

// Describe implements prometheus.Collector.
func (g Group) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range g {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (g Group) Collect(ch chan<- prometheus.Metric) {
	for _, c := range g {
		c.Collect(ch)
	}
}
