package sqlutil

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rohrpost/rohrpost/internal/metrics"
)

// Collector reports the use of the connection pools (database/sql's
// DBStats: open, in use, idle, waits for a free connection) under the
// db_name label: "sqlite_write" and "sqlite_read" for SQLite's one writer
// and its readers, "postgres" for PostgreSQL's one pool. Read at scrape
// time.
func (db *DB) Collector() prometheus.Collector {
	if db.Read == db.writer {
		return collectors.NewDBStatsCollector(db.Read, "postgres")
	}
	return metrics.Group{
		collectors.NewDBStatsCollector(db.writer, "sqlite_write"),
		collectors.NewDBStatsCollector(db.Read, "sqlite_read"),
	}
}
