package mediaapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/mediaapi/storage"
)

// The media changes of the admin API (adminapi). Its listings read the
// tables through storage.Reader (decision 0020); these are the writes,
// which are the media API's alone.

// ErrNotFound is unknown media.
var ErrNotFound = storage.ErrNotFound

// QuarantineMedia implements API.
func (s *Server) QuarantineMedia(ctx context.Context, refs []storage.Ref, admin string) (int, error) {
	return s.store.QuarantineMedia(ctx, refs, admin)
}

// QuarantineUploads implements API.
func (s *Server) QuarantineUploads(ctx context.Context, uploader, admin string) (int, error) {
	refs, err := s.store.UploadsOf(ctx, uploader)
	if err != nil {
		return 0, err
	}
	return s.store.QuarantineMedia(ctx, refs, admin)
}

// UnquarantineMedia implements API.
func (s *Server) UnquarantineMedia(ctx context.Context, ref storage.Ref) error {
	return s.store.Unquarantine(ctx, ref)
}

// ProtectMedia implements API.
func (s *Server) ProtectMedia(ctx context.Context, ref storage.Ref, protect bool) error {
	return s.store.Protect(ctx, ref, protect)
}

// DeleteMedia implements API: the media ids go at once; a file and its
// thumbnails go when no other media id shares the content. Unknown media
// is skipped.
func (s *Server) DeleteMedia(ctx context.Context, refs []storage.Ref) ([]string, error) {
	deleted := []string{}
	for _, ref := range refs {
		err := s.Delete(ctx, ref.ServerName, ref.MediaID)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return deleted, fmt.Errorf("delete mxc://%s/%s: %w", ref.ServerName, ref.MediaID, err)
		}
		deleted = append(deleted, ref.MediaID)
	}
	return deleted, nil
}

// DeleteOldMedia implements API.
func (s *Server) DeleteOldMedia(ctx context.Context, beforeTS, sizeGT int64, keep []storage.Ref) ([]string, error) {
	old, err := s.store.OldLocalMedia(ctx, beforeTS, sizeGT)
	if err != nil {
		return nil, err
	}
	kept := make(map[storage.Ref]bool, len(keep))
	for _, k := range keep {
		kept[k] = true
	}
	var refs []storage.Ref
	for _, m := range old {
		if ref := (storage.Ref{ServerName: m.ServerName, MediaID: m.MediaID}); !kept[ref] && s.cfg.IsLocal(spec.ServerName(m.ServerName)) {
			refs = append(refs, ref)
		}
	}
	return s.DeleteMedia(ctx, refs)
}

// PurgeRemoteMedia implements API.
func (s *Server) PurgeRemoteMedia(ctx context.Context, beforeTS int64) (int, error) {
	old, err := s.store.OldRemoteMedia(ctx, beforeTS)
	if err != nil {
		return 0, err
	}
	refs := make([]storage.Ref, 0, len(old))
	for _, m := range old {
		refs = append(refs, storage.Ref{ServerName: m.ServerName, MediaID: m.MediaID})
	}
	deleted, err := s.DeleteMedia(ctx, refs)
	return len(deleted), err
}

// accessGrain is how stale last_access_ts may be: serving media writes
// it at most this often per media id, not on every download.
const accessGrain = 10 * time.Minute

// touch notes that m was served, in the background.
func (s *Server) touch(m *storage.Media) {
	now := time.Now().UnixMilli()
	// After Stop nothing new starts: Stop waits for what runs.
	if now-m.LastAccessTS < accessGrain.Milliseconds() || s.lifetime.Err() != nil {
		return
	}
	ref := storage.Ref{ServerName: m.ServerName, MediaID: m.MediaID}
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		ctx, cancel := context.WithTimeout(s.lifetime, 10*time.Second)
		defer cancel()
		_ = s.store.Touch(ctx, ref, now)
	}()
}
