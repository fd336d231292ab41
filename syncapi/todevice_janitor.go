package syncapi

import (
	"context"
	"log/slog"
	"time"
)

const (
	// toDeviceJanitorEvery is how often a sync server tidies the inboxes;
	// every replica does, which is harmless (the deletes are idempotent).
	toDeviceJanitorEvery = time.Hour
	// toDeviceTxnRetention is how long a /sendToDevice transaction id
	// keeps a retried request from sending twice.
	toDeviceTxnRetention = 7 * 24 * time.Hour
)

// tidyToDevice drops the inboxes of devices that are gone and forgets old
// transaction ids. It runs at start, after the bus reconnects (deletions
// announced in between were missed) and then every hour.
func (s *Server) tidyToDevice() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if n, err := s.store.DropOrphanedToDevice(ctx); err != nil {
		slog.Warn("syncapi: drop orphaned to-device messages", "err", err)
	} else if n > 0 {
		slog.Info("syncapi: dropped to-device messages of deleted devices", "messages", n)
	}
	before := time.Now().Add(-toDeviceTxnRetention).UnixMilli()
	if _, err := s.store.ExpireToDeviceTxns(ctx, before); err != nil {
		slog.Warn("syncapi: expire to-device transaction ids", "err", err)
	}
}

func (s *Server) tidyToDeviceEvery(period time.Duration) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	s.tidyToDevice()
	for {
		select {
		case <-s.quit:
			return
		case <-tick.C:
			s.tidyToDevice()
		}
	}
}
