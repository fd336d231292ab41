package storage

import (
	"context"
	"fmt"
	"time"
)

// QueueStats is the outgoing queue as a whole, for the metrics.
type QueueStats struct {
	// Pending is the PDUs and EDUs waiting, for all destinations.
	Pending int64
	// Destinations is how many destinations have something waiting.
	Destinations int64
	// BackingOff is how many destinations failed last time and are not
	// to be tried again before their retry time.
	BackingOff int64
}

// QueueStats counts the queue at now. It reads the whole queue table,
// which holds only what has not been sent: call it at scrape time, not on
// a hot path.
func (s *Store) QueueStats(ctx context.Context, now time.Time) (QueueStats, error) {
	var st QueueStats
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT destination) FROM federation_queue`).Scan(&st.Pending, &st.Destinations)
	if err != nil {
		return st, fmt.Errorf("count queue: %w", err)
	}
	err = s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM federation_queue_destinations WHERE retry_at > $1`, now.UnixMilli()).Scan(&st.BackingOff)
	if err != nil {
		return st, fmt.Errorf("count destinations in backoff: %w", err)
	}
	return st, nil
}
