package userapi

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/retention"
)

// The retention jobs of the user API (config/retention.go,
// docs/data-protection.md). They run in the background wherever a user
// API runs, once per deployment (internal/retention).

// retentionBatch bounds the rows one step of a job touches.
const retentionBatch = 500

// Job names, also the rows of retention_jobs.
const (
	JobStaleDevices = "stale_devices"
	JobUserIPs      = "user_ips"
)

// RetentionJobs are the jobs the config switches on.
func (s *Server) RetentionJobs() []retention.Job {
	var jobs []retention.Job
	if age := time.Duration(s.cfg.DeleteStaleDevicesAfter); age > 0 {
		jobs = append(jobs, retention.Job{Name: JobStaleDevices, Interval: min(age, 24*time.Hour),
			Run: func(ctx context.Context, r *retention.Round) (int, error) { return s.deleteStaleDevices(ctx, r, age) }})
	}
	if age := s.cfg.IPsMaxAge(); age > 0 {
		jobs = append(jobs, retention.Job{Name: JobUserIPs, Interval: min(age, time.Hour),
			Run: func(ctx context.Context, r *retention.Round) (int, error) { return s.forgetAddresses(ctx, r, age) }})
	}
	return jobs
}

// deleteStaleDevices deletes the devices not used within age the way a
// user deleting them would (DeleteDevices): their tokens stop working,
// their keys go, and the users' contacts hear of the change. Each batch
// is gone before the progress (the count so far) is saved, so a resumed
// round simply finds fewer stale devices.
func (s *Server) deleteStaleDevices(ctx context.Context, r *retention.Round, age time.Duration) (int, error) {
	total, _ := strconv.Atoi(r.Progress)
	cutoff := r.Cutoff(age).UnixMilli()
	for {
		stale, err := s.store.StaleDevices(ctx, cutoff, retentionBatch)
		if err != nil {
			return total, fmt.Errorf("stale devices: %w", err)
		}
		if len(stale) == 0 {
			return total, nil
		}
		byUser := map[string][]string{}
		for _, d := range stale {
			byUser[d.UserID] = append(byUser[d.UserID], d.DeviceID)
		}
		for user, devices := range byUser {
			uid, err := spec.NewUserID(user, true)
			if err != nil {
				return total, fmt.Errorf("stored user id %q: %w", user, err)
			}
			if err := s.DeleteDevices(ctx, *uid, devices); err != nil {
				return total, fmt.Errorf("delete stale devices of %s: %w", user, err)
			}
			r.Log.Info("retention: deleted stale devices", "user", user, "devices", devices)
			total += len(devices)
		}
		if err := r.Save(ctx, strconv.Itoa(total)); err != nil {
			return total, err
		}
	}
}

// forgetAddresses removes the client addresses and user agents recorded
// before age ago.
func (s *Server) forgetAddresses(ctx context.Context, r *retention.Round, age time.Duration) (int, error) {
	total, _ := strconv.Atoi(r.Progress)
	cutoff := r.Cutoff(age).UnixMilli()
	for {
		n, err := s.store.ForgetAddresses(ctx, cutoff, retentionBatch)
		if err != nil {
			return total, fmt.Errorf("forget client addresses: %w", err)
		}
		if n == 0 {
			if total > 0 {
				r.Log.Info("retention: removed client addresses and user agents", "devices", total)
			}
			return total, nil
		}
		total += n
		if err := r.Save(ctx, strconv.Itoa(total)); err != nil {
			return total, err
		}
	}
}
