package app

import (
	"fmt"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rohrpost/rohrpost/internal/metrics"
)

// MetricsResource is the listener resource that serves Prometheus'
// scrapes (metrics.Paths). Handler serves it only when named: an API
// listener does not expose the metrics by accident.
const MetricsResource = "metrics"

// registerMetrics gives this process its own registry (docs/metrics.md)
// with the metrics of the components running here. The registry exists
// whether or not a listener serves it: the counters cost the same, and
// a test can read it without a listener.
func (a *App) registerMetrics() error {
	a.Metrics, a.http = metrics.NewRegistry(), metrics.NewHTTP()
	cs := []prometheus.Collector{a.http, componentsRunning(a.ComponentList())}
	if a.DB != nil {
		cs = append(cs, a.DB.Collector())
	}
	if a.Bus != nil {
		cs = append(cs, a.Bus.Collector())
	}
	if a.LocalRooms != nil {
		cs = append(cs, a.LocalRooms.Collector())
	}
	if a.Sync != nil {
		cs = append(cs, a.Sync.Collector())
	}
	if a.Media != nil {
		cs = append(cs, a.Media.Collector())
	}
	if a.Fed != nil {
		cs = append(cs, a.Fed.Collector())
	}
	for _, c := range cs {
		if err := a.Metrics.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

// metricsRoutes serves the registry at Synapse's path and Prometheus'
// default.
func (a *App) metricsRoutes(r *mux.Router) {
	h := metrics.Handler(a.Metrics)
	for _, p := range metrics.Paths {
		r.Handle(p, h).Methods(http.MethodGet)
	}
}

// componentsRunning tells dashboards which components a scraped process
// runs: rohrpost_components{component="syncapi"} 1.
func componentsRunning(comps []string) prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rohrpost_components",
		Help: "The components this process runs (1 each): the monolith runs all but the gateway.",
	}, []string{"component"})
	for _, c := range comps {
		g.WithLabelValues(c).Set(1)
	}
	return g
}
