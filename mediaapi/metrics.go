package mediaapi

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rohrpost/rohrpost/mediaapi/clamd"
)

// scanCounts counts the virus scanner's verdicts (scan.go, scannerapi.go):
// an atomic add per scan, read at scrape time.
type scanCounts struct {
	clean, infected, failed, tooLarge atomic.Uint64
}

// record counts one answer of the scanner.
func (c *scanCounts) record(res clamd.Result, err error) {
	switch {
	case err != nil:
		c.failed.Add(1)
	case res.Infected:
		c.infected.Add(1)
	default:
		c.clean.Add(1)
	}
}

var scansDesc = prometheus.NewDesc("rohrpost_media_scans_total",
	"Files handed to the virus scanner (ClamAV), by result: clean, infected, error (clamd unreachable or failing), too_large (over content_scanner.max_scan_size, not scanned). A file whose verdict is remembered is not scanned again and not counted.",
	[]string{"result"}, nil)

// Collector is the media API's metrics.
func (s *Server) Collector() prometheus.Collector { return scanCollector{&s.scans} }

type scanCollector struct{ c *scanCounts }

func (sc scanCollector) Describe(ch chan<- *prometheus.Desc) { ch <- scansDesc }

func (sc scanCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range []struct {
		label string
		n     *atomic.Uint64
	}{{"clean", &sc.c.clean}, {"infected", &sc.c.infected}, {"error", &sc.c.failed}, {"too_large", &sc.c.tooLarge}} {
		ch <- prometheus.MustNewConstMetric(scansDesc, prometheus.CounterValue, float64(r.n.Load()), r.label)
	}
}
