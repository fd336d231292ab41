package bus

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// WatchConsumer reports the lag of cons, a consumer this process reads
// from, in the metrics (Collector). Its labels are the stream and the
// durable name, or "ordered" for an ordered consumer (whose name on the
// server changes with every reset).
func (c *Conn) WatchConsumer(cons jetstream.Consumer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watched = append(c.watched, cons)
}

var (
	consumerPendingDesc = prometheus.NewDesc("rohrpost_nats_consumer_pending_messages",
		"Messages of the stream not yet delivered to the consumer (JetStream's num_pending): how far this process lags behind the stream.",
		[]string{"stream", "consumer"}, nil)
	consumerAckPendingDesc = prometheus.NewDesc("rohrpost_nats_consumer_ack_pending_messages",
		"Messages delivered to the consumer and not yet acknowledged (JetStream's num_ack_pending; 0 for consumers that do not ack).",
		[]string{"stream", "consumer"}, nil)
)

// consumerInfoTimeout bounds the consumer info requests of one scrape,
// well under Prometheus' default scrape timeout of 10 s.
const consumerInfoTimeout = 3 * time.Second

// Collector reports the lag of the watched consumers, asked of JetStream
// at scrape time: nothing is counted on the path of a message.
func (c *Conn) Collector() prometheus.Collector { return consumerCollector{c} }

type consumerCollector struct{ c *Conn }

func (cc consumerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- consumerPendingDesc
	ch <- consumerAckPendingDesc
}

type consumerKey struct{ stream, name string }

type consumerLag struct{ pending, ackPending float64 }

func (cc consumerCollector) Collect(ch chan<- prometheus.Metric) {
	cc.c.mu.Lock()
	list := append([]jetstream.Consumer(nil), cc.c.watched...)
	cc.c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), consumerInfoTimeout)
	defer cancel()
	// Two ordered consumers of one stream would share labels: their lag
	// is added up.
	lags := map[consumerKey]consumerLag{}
	for _, cons := range list {
		info, err := cons.Info(ctx)
		if err != nil {
			// Left out of this scrape (an ordered consumer not started
			// yet, NATS away); the series' absence is the signal.
			slog.Debug("metrics: consumer info", "err", err)
			continue
		}
		k := consumerKey{info.Stream, info.Config.Durable}
		if k.name == "" {
			k.name = "ordered"
		}
		l := lags[k]
		l.pending += float64(info.NumPending)
		l.ackPending += float64(info.NumAckPending)
		lags[k] = l
	}
	for k, l := range lags {
		ch <- prometheus.MustNewConstMetric(consumerPendingDesc, prometheus.GaugeValue, l.pending, k.stream, k.name)
		ch <- prometheus.MustNewConstMetric(consumerAckPendingDesc, prometheus.GaugeValue, l.ackPending, k.stream, k.name)
	}
}
