package app

import (
	"context"

	"github.com/rohrpost/rohrpost/internal/retention"
)

// startRetention runs the retention jobs of the components in this
// process (config/retention.go). Every process that runs a component
// offers its jobs, and the lease rows of internal/retention make each
// job run in one of them at a time: so in separate services the user
// API's jobs run in one userapi replica, the media jobs in one mediaapi
// replica, and the room jobs in the roomserver.
func (a *App) startRetention(ctx context.Context) error {
	var jobs []retention.Job
	if a.LocalUsers != nil {
		jobs = append(jobs, a.LocalUsers.RetentionJobs()...)
	}
	if a.LocalRooms != nil {
		jobs = append(jobs, a.LocalRooms.RetentionJobs()...)
	}
	if a.Media != nil {
		jobs = append(jobs, a.Media.RetentionJobs()...)
	}
	a.RetentionJobs = jobs
	if len(jobs) == 0 {
		return nil
	}
	s, err := retention.New(ctx, a.DB, retention.Options{}, jobs...)
	if err != nil {
		return err
	}
	a.Retention = s
	s.Start()
	return nil
}
