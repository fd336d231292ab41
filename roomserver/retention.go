package roomserver

import (
	"context"
	"fmt"
	"time"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/retention"
	"github.com/rohrpost/rohrpost/roomserver/storage"
)

// The retention jobs of the roomserver (config/retention.go,
// docs/data-protection.md): forgotten rooms purged whole, and old
// messages purged by the rooms' m.room.retention policies. Both go
// through the purges of admin.go, which run in the input loop.

// retentionBatch bounds the rooms one step of a job reads.
const retentionBatch = 100

// JobForgottenRooms names the forgotten-room job's row.
const JobForgottenRooms = "forgotten_rooms"

// RetentionJobs are the jobs the config switches on.
func (s *Server) RetentionJobs() []retention.Job {
	var jobs []retention.Job
	if period := time.Duration(s.cfg.ForgottenRoomRetentionPeriod); period > 0 {
		jobs = append(jobs, retention.Job{Name: JobForgottenRooms, Interval: min(period, time.Hour),
			Run: func(ctx context.Context, r *retention.Round) (int, error) {
				return s.purgeForgottenRooms(ctx, r, period)
			}})
	}
	if m := s.cfg.Retention; m.Enabled {
		for _, pj := range m.Jobs() {
			name := fmt.Sprintf("message_retention_%d_%d", time.Duration(pj.ShortestMaxLifetime).Milliseconds(), time.Duration(pj.LongestMaxLifetime).Milliseconds())
			jobs = append(jobs, retention.Job{Name: name, Interval: time.Duration(pj.Interval),
				Run: func(ctx context.Context, r *retention.Round) (int, error) {
					return s.purgeExpiredMessages(ctx, r, m, pj)
				}})
		}
	}
	return jobs
}

// purgeForgottenRooms purges the rooms that every local member left and
// forgot at least period ago. The progress is the last room id looked
// at, so a room whose purge failed is tried again next round, not over
// and over in this one.
func (s *Server) purgeForgottenRooms(ctx context.Context, r *retention.Round, period time.Duration) (int, error) {
	suffixes := make([]string, 0, len(s.keys))
	for name := range s.keys {
		suffixes = append(suffixes, ":"+name)
	}
	cutoff := r.Cutoff(period).UnixMilli()
	purged := 0
	for {
		rooms, err := s.store.ForgottenRooms(ctx, suffixes, r.Progress, cutoff, retentionBatch)
		if err != nil {
			return purged, fmt.Errorf("forgotten rooms: %w", err)
		}
		if len(rooms) == 0 {
			return purged, nil
		}
		for _, roomID := range rooms {
			if err := s.PurgeRoom(ctx, roomID); err != nil {
				if ctx.Err() != nil {
					return purged, err
				}
				r.Log.Warn("retention: purge of a forgotten room failed", "room_id", roomID, "err", err)
				continue
			}
			r.Log.Info("retention: purged forgotten room", "room_id", roomID)
			purged++
		}
		if err := r.Save(ctx, rooms[len(rooms)-1]); err != nil {
			return purged, err
		}
	}
}

// maxLifetime is how long a room's events are kept under policy p and
// the server's limits, 0 for ever: the room's max_lifetime or else the
// server's default, clamped to allowed_lifetime_min/max, and never below
// the min_lifetime in force.
func maxLifetime(p storage.RoomRetention, m config.MessageRetention) time.Duration {
	maxL, minL := time.Duration(p.MaxLifetime)*time.Millisecond, time.Duration(p.MinLifetime)*time.Millisecond
	if p.MaxLifetime == 0 {
		maxL = time.Duration(m.DefaultPolicy.MaxLifetime)
	}
	if p.MinLifetime == 0 {
		minL = time.Duration(m.DefaultPolicy.MinLifetime)
	}
	if maxL == 0 {
		return 0
	}
	if lo := time.Duration(m.AllowedLifetimeMin); lo > 0 && maxL < lo {
		maxL = lo
	}
	if hi := time.Duration(m.AllowedLifetimeMax); hi > 0 && maxL > hi {
		maxL = hi
	}
	return max(maxL, minL)
}

// purgeExpiredMessages purges, in the rooms whose lifetime falls in pj's
// range, the timeline events older than the lifetime. State events, the
// newest event and the forward extremities always stay (PurgeHistory).
func (s *Server) purgeExpiredMessages(ctx context.Context, r *retention.Round, m config.MessageRetention, pj config.PurgeJob) (int, error) {
	lo, hi := time.Duration(pj.ShortestMaxLifetime), time.Duration(pj.LongestMaxLifetime)
	purged := 0
	for {
		rooms, err := s.store.RetentionPolicies(ctx, r.Progress, retentionBatch)
		if err != nil {
			return purged, fmt.Errorf("retention policies: %w", err)
		}
		if len(rooms) == 0 {
			return purged, nil
		}
		for _, p := range rooms {
			life := maxLifetime(p, m)
			if life == 0 || (lo > 0 && life <= lo) || (hi > 0 && life > hi) {
				continue
			}
			upTo := r.Cutoff(life).UnixMilli()
			if err := s.PurgeHistory(ctx, PurgeHistoryRequest{RoomID: p.RoomID, UpToTS: upTo, DeleteLocal: true}); err != nil {
				if ctx.Err() != nil {
					return purged, err
				}
				r.Log.Warn("retention: purge of expired messages failed", "room_id", p.RoomID, "err", err)
				continue
			}
			r.Log.Info("retention: purged expired messages", "room_id", p.RoomID, "before", time.UnixMilli(upTo).UTC(), "max_lifetime", life)
			purged++
		}
		if err := r.Save(ctx, rooms[len(rooms)-1].RoomID); err != nil {
			return purged, err
		}
	}
}
