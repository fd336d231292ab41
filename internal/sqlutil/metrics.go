package sqlutil

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rohrpost/rohrpost/internal/metrics"
)

// Collector reports the use of the connection pools (database/sql's
// DBStats: open, in use, idle, waits for a free connection) under the
// db_name label, "sqlite_write" and "sqlite_read" for SQLite's one writer
// and its readers, "postgres" for PostgreSQL's one pool, read at scrape
// time; and the group committer's transactions.
func (db *DB) Collector() prometheus.Collector {
	c := db.commit.metrics
	g := metrics.Group{c.commits, c.writers, c.duration}
	if db.Read == db.writer {
		return append(g, collectors.NewDBStatsCollector(db.Read, "postgres"))
	}
	return append(g,
		collectors.NewDBStatsCollector(db.writer, "sqlite_write"),
		collectors.NewDBStatsCollector(db.Read, "sqlite_read"),
	)
}

// commitMetrics measure the group committer (groupcommit.go), once per
// transaction.
type commitMetrics struct {
	commits  prometheus.Counter
	writers  prometheus.Histogram
	duration prometheus.Histogram
}

func newCommitMetrics() *commitMetrics {
	return &commitMetrics{
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rohrpost_db_group_commits_total",
			Help: "Transactions the group committer committed (every write of the process goes through it).",
		}),
		writers: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rohrpost_db_group_commit_writers",
			Help:    "Writes gathered into one committed transaction: N concurrent writers cost one fsync.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 9), // 1 … 256 (maxBatch)
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rohrpost_db_group_commit_duration_seconds",
			Help:    "Time of the COMMIT alone: mostly the disk's fsync (SQLite) or the server's (PostgreSQL).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
	}
}

func (m *commitMetrics) now() time.Time { return time.Now() }

func (m *commitMetrics) committed(writers int, start time.Time) {
	m.duration.Observe(time.Since(start).Seconds())
	m.writers.Observe(float64(writers))
	m.commits.Inc()
}
