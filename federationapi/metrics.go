package federationapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	queuePendingDesc = prometheus.NewDesc("rohrpost_federation_queue_pending",
		"PDUs and EDUs waiting to be sent to other servers, all destinations together (the durable queue, shared by every federation API process).",
		nil, nil)
	queueDestinationsDesc = prometheus.NewDesc("rohrpost_federation_queue_destinations",
		"Destinations with something waiting in the queue.", nil, nil)
	queueBackoffDesc = prometheus.NewDesc("rohrpost_federation_queue_destinations_backing_off",
		"Destinations whose last transaction failed, waiting for their retry time.", nil, nil)
	queueActiveDesc = prometheus.NewDesc("rohrpost_federation_queue_active_destinations",
		"Destinations this process is sending to now (it holds their lease).", nil, nil)
)

// queueStatsTimeout bounds the queue's count at scrape time.
const queueStatsTimeout = 3 * time.Second

// Collector is the federation API's metrics, read at scrape time: the
// queue is counted in the database, per destination and summed, so that
// the number of series does not grow with the number of servers we
// talk to.
func (s *Server) Collector() prometheus.Collector { return queueCollector{s} }

type queueCollector struct{ s *Server }

func (qc queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queuePendingDesc
	ch <- queueDestinationsDesc
	ch <- queueBackoffDesc
	ch <- queueActiveDesc
}

func (qc queueCollector) Collect(ch chan<- prometheus.Metric) {
	if q := qc.s.queue; q != nil {
		q.mu.Lock()
		active := len(q.active)
		q.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(queueActiveDesc, prometheus.GaugeValue, float64(active))
	}
	ctx, cancel := context.WithTimeout(context.Background(), queueStatsTimeout)
	defer cancel()
	st, err := qc.s.store.QueueStats(ctx, time.Now())
	if err != nil {
		slog.Warn("metrics: federation queue", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(queuePendingDesc, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(queueDestinationsDesc, prometheus.GaugeValue, float64(st.Destinations))
	ch <- prometheus.MustNewConstMetric(queueBackoffDesc, prometheus.GaugeValue, float64(st.BackingOff))
}
