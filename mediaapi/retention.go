package mediaapi

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rohrpost/rohrpost/internal/retention"
	"github.com/rohrpost/rohrpost/mediaapi/storage"
)

// The retention jobs of the media API (media_retention,
// config/retention.go): media not served for its lifetime is deleted, a
// cached copy of another server's media (fetched again when asked for)
// or our own users' uploads. Quarantined and protected media stay, and
// so do the avatars of users and rooms. They run wherever a media API
// runs, once per deployment (internal/retention): the files are on the
// media store of the process that deletes them.

// Job names, also the rows of retention_jobs.
const (
	JobRemoteMedia = "remote_media"
	JobLocalMedia  = "local_media"
)

// RetentionJobs are the jobs the config switches on.
func (s *Server) RetentionJobs() []retention.Job {
	var jobs []retention.Job
	mr := s.cfg.MediaRetention
	if life := time.Duration(mr.RemoteMediaLifetime); life > 0 {
		jobs = append(jobs, retention.Job{Name: JobRemoteMedia, Interval: min(life, time.Hour),
			Run: func(ctx context.Context, r *retention.Round) (int, error) {
				n, err := s.PurgeRemoteMedia(ctx, r.Cutoff(life).UnixMilli())
				if n > 0 {
					r.Log.Info("retention: removed cached remote media", "media", n, "not_served_since", r.Cutoff(life).UTC())
				}
				return n, err
			}})
	}
	if life := time.Duration(mr.LocalMediaLifetime); life > 0 {
		jobs = append(jobs, retention.Job{Name: JobLocalMedia, Interval: min(life, time.Hour),
			Run: func(ctx context.Context, r *retention.Round) (int, error) { return s.deleteOldLocalMedia(ctx, r, life) }})
	}
	return jobs
}

// deleteOldLocalMedia deletes local uploads not served since life ago,
// except avatars. A round cut short has deleted some; the next round
// finds the rest.
func (s *Server) deleteOldLocalMedia(ctx context.Context, r *retention.Round, life time.Duration) (int, error) {
	uris, err := s.store.AvatarURIs(ctx)
	if err != nil {
		return 0, fmt.Errorf("avatars: %w", err)
	}
	var keep []storage.Ref
	for _, uri := range uris {
		server, id, ok := strings.Cut(strings.TrimPrefix(uri, "mxc://"), "/")
		if ok {
			keep = append(keep, storage.Ref{ServerName: server, MediaID: id})
		}
	}
	deleted, err := s.DeleteOldMedia(ctx, r.Cutoff(life).UnixMilli(), 0, keep)
	if len(deleted) > 0 {
		r.Log.Info("retention: deleted local media", "media", deleted, "not_served_since", r.Cutoff(life).UTC())
	}
	return len(deleted), err
}
