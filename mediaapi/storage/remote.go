package storage

import (
	"context"
	"database/sql"
	"errors"
)

// PutRemote caches media of another server. Another process may have
// cached the same media id meanwhile; the first copy stays and is
// returned.
func (s *Store) PutRemote(ctx context.Context, m Media) (*Media, error) {
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO media (sha256, server_name, media_id, content_type, filename, size, uploader, created_ts, expires_ts,
			quarantined_by, last_access_ts)
			VALUES ($1, $2, $3, $4, $5, $6, '', $7, 0, `+inheritQuarantine+`, $7) ON CONFLICT (server_name, media_id) DO NOTHING`,
			m.SHA256, m.ServerName, m.MediaID, m.ContentType, m.Filename, m.Size, m.CreatedTS)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, m.ServerName, m.MediaID)
}

// RefusedRemote is remote media the virus scanner refused.
type RefusedRemote struct {
	SHA256, Signature string
	RefusedTS         int64
}

// RefuseRemote records remote media the virus scanner refused.
func (s *Store) RefuseRemote(ctx context.Context, serverName, mediaID string, r RefusedRemote) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO remote_media_refused (server_name, media_id, sha256, signature, refused_ts)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (server_name, media_id) DO NOTHING`,
			serverName, mediaID, r.SHA256, r.Signature, r.RefusedTS)
		return err
	})
}

// RemoteRefusal returns the refusal of remote media, or nil if it was not
// refused.
func (s *Store) RemoteRefusal(ctx context.Context, serverName, mediaID string) (*RefusedRemote, error) {
	var r RefusedRemote
	err := s.db.Read.QueryRowContext(ctx, `SELECT sha256, signature, refused_ts FROM remote_media_refused
		WHERE server_name = $1 AND media_id = $2`, serverName, mediaID).Scan(&r.SHA256, &r.Signature, &r.RefusedTS)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &r, err
}
