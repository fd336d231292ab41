// Package storage keeps the media metadata of the mediaapi.
package storage

import (
	"context"
	"database/sql"
	"embed"
	"errors"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is unknown media.
var ErrNotFound = errors.New("media not found")

// Store reads and writes the media table.
type Store struct {
	db *sqlutil.DB
}

// Open migrates the schema and returns the store.
func Open(ctx context.Context, db *sqlutil.DB) (*Store, error) {
	if err := db.Migrate(ctx, "mediaapi", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Media is one stored upload.
type Media struct {
	ServerName, MediaID string
	SHA256              string
	ContentType         string
	Filename            string
	Size                int64
	Uploader            string
	CreatedTS           int64
}

// Put records media.
func (s *Store) Put(ctx context.Context, m Media) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO media (server_name, media_id, sha256, content_type, filename, size, uploader, created_ts)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, m.ServerName, m.MediaID, m.SHA256, m.ContentType, m.Filename, m.Size, m.Uploader, m.CreatedTS)
		return err
	})
}

// Get reads media by its mxc parts.
func (s *Store) Get(ctx context.Context, serverName, mediaID string) (*Media, error) {
	m := Media{ServerName: serverName, MediaID: mediaID}
	err := s.db.Read.QueryRowContext(ctx, `SELECT sha256, content_type, filename, size, uploader, created_ts FROM media
		WHERE server_name = $1 AND media_id = $2`, serverName, mediaID).Scan(&m.SHA256, &m.ContentType, &m.Filename, &m.Size, &m.Uploader, &m.CreatedTS)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &m, err
}

// UploadedBytes is how much a user has uploaded, for quotas.
func (s *Store) UploadedBytes(ctx context.Context, uploader string) (int64, error) {
	var n int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM media WHERE uploader = $1`, uploader).Scan(&n)
	return n, err
}
