package roomserver

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rohrpost/rohrpost/internal/metrics"
)

// inputMetrics measure the input loop (input.go). They are written by the
// loop alone, once per batch: an atomic add each, nothing per event.
type inputMetrics struct {
	batchTasks      prometheus.Histogram
	batchEvents     prometheus.Histogram
	eventsPersisted prometheus.Counter
}

func newInputMetrics() *inputMetrics {
	return &inputMetrics{
		batchTasks: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rohrpost_roomserver_input_batch_tasks",
			Help:    "Tasks (sends, joins, events from other servers) the input loop took into one batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1 … 1024 (maxTasksPerBatch)
		}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rohrpost_roomserver_input_batch_events",
			Help:    "Events written by one committed batch (one transaction, one fsync).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		eventsPersisted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rohrpost_roomserver_events_persisted_total",
			Help: "Events the roomserver committed to the database.",
		}),
	}
}

// committed records a batch that reached the database.
func (m *inputMetrics) committed(events int) {
	m.batchEvents.Observe(float64(events))
	m.eventsPersisted.Add(float64(events))
}

// Collector is the roomserver's metrics; the queue depth is read at
// scrape time.
func (s *Server) Collector() prometheus.Collector {
	return metrics.Group{
		s.metrics.batchTasks, s.metrics.batchEvents, s.metrics.eventsPersisted,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rohrpost_roomserver_input_queue_depth",
			Help: "Tasks waiting for the input loop (the queue holds at most 1024; senders wait when it is full).",
		}, func() float64 { return float64(len(s.tasks)) }),
	}
}
