package syncapi

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// waitCount counts the long polls (longpoll.go) parked until a wake or
// their timeout: an atomic add on the way in and out, read at scrape time.
type waitCount struct{ n atomic.Int64 }

func (w *waitCount) parked()   { w.n.Add(1) }
func (w *waitCount) unparked() { w.n.Add(-1) }

// Collector is the sync API's metrics.
func (s *Server) Collector() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rohrpost_sync_waiting_requests",
		Help: "/sync and sliding sync requests of this process waiting for something new (long polls parked until a wake or their timeout).",
	}, func() float64 { return float64(s.waiting.n.Load()) })
}
