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
	// ExpiresTS is set while the media id waits for its content.
	ExpiresTS int64
	// QuarantinedBy is the admin who quarantined the media, "" if none
	// did: such media is never served.
	QuarantinedBy      string
	SafeFromQuarantine bool
	// LastAccessTS is when the media was last served, to a few minutes.
	LastAccessTS int64
}

// mediaColumns are what Get and the admin listings read.
const mediaColumns = `server_name, media_id, sha256, content_type, filename, size, uploader, created_ts, expires_ts,
	quarantined_by, safe_from_quarantine, last_access_ts`

type scanner interface{ Scan(dest ...any) error }

func scanMedia(row scanner) (*Media, error) {
	var m Media
	err := row.Scan(&m.ServerName, &m.MediaID, &m.SHA256, &m.ContentType, &m.Filename, &m.Size, &m.Uploader, &m.CreatedTS,
		&m.ExpiresTS, &m.QuarantinedBy, &m.SafeFromQuarantine, &m.LastAccessTS)
	return &m, err
}

// inheritQuarantine is the quarantined_by of content $1 when some media
// with that content was quarantined: a quarantined file stays so under
// any new media id (an upload of the same bytes, a fetch of a copy).
const inheritQuarantine = `COALESCE((SELECT MAX(quarantined_by) FROM media WHERE sha256 = $1 AND sha256 <> '' AND quarantined_by <> ''), '')`

// Pending tells whether the media id still waits for its content.
func (m *Media) Pending() bool { return m.SHA256 == "" }

// Put records media.
func (s *Store) Put(ctx context.Context, m Media) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO media (sha256, server_name, media_id, content_type, filename, size, uploader, created_ts, expires_ts,
			quarantined_by, last_access_ts)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, `+inheritQuarantine+`, $8)`, m.SHA256, m.ServerName, m.MediaID, m.ContentType, m.Filename, m.Size, m.Uploader, m.CreatedTS, m.ExpiresTS)
		return err
	})
}

// Get reads media by its mxc parts.
func (s *Store) Get(ctx context.Context, serverName, mediaID string) (*Media, error) {
	m, err := scanMedia(s.db.Read.QueryRowContext(ctx, `SELECT `+mediaColumns+` FROM media
		WHERE server_name = $1 AND media_id = $2`, serverName, mediaID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// UploadedBytes is how much a user has uploaded, for quotas.
func (s *Store) UploadedBytes(ctx context.Context, uploader string) (int64, error) {
	var n int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM media WHERE uploader = $1`, uploader).Scan(&n)
	return n, err
}

// ScanResult is a remembered verdict of the virus scanner.
type ScanResult struct {
	Infected  bool
	Signature string
}

// ScanResult returns the verdict for a content, or nil if never scanned.
func (s *Store) ScanResult(ctx context.Context, sha256 string) (*ScanResult, error) {
	var r ScanResult
	err := s.db.Read.QueryRowContext(ctx, `SELECT infected, signature FROM scan_results WHERE sha256 = $1`, sha256).Scan(&r.Infected, &r.Signature)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &r, err
}

// PutScanResult remembers a verdict.
func (s *Store) PutScanResult(ctx context.Context, sha256 string, r ScanResult, ts int64) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO scan_results (sha256, infected, signature, scanned_ts) VALUES ($1, $2, $3, $4)
			ON CONFLICT (sha256) DO UPDATE SET infected = excluded.infected, signature = excluded.signature, scanned_ts = excluded.scanned_ts`,
			sha256, r.Infected, r.Signature, ts)
		return err
	})
}

// Quarantined is a refused upload.
type Quarantined struct {
	ID                                                 int64
	SHA256, Signature, Uploader, Filename, ContentType string
	Size, ReceivedTS                                   int64
}

// Quarantine records a refused upload.
func (s *Store) Quarantine(ctx context.Context, q Quarantined) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO quarantine (sha256, signature, uploader, filename, content_type, size, received_ts)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, q.SHA256, q.Signature, q.Uploader, q.Filename, q.ContentType, q.Size, q.ReceivedTS)
		return err
	})
}

// QuarantineList lists refused uploads, newest first (for the admin API).
func (s *Store) QuarantineList(ctx context.Context, limit int) ([]Quarantined, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, sha256, signature, uploader, filename, content_type, size, received_ts
		FROM quarantine ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Quarantined
	for rows.Next() {
		var q Quarantined
		if err := rows.Scan(&q.ID, &q.SHA256, &q.Signature, &q.Uploader, &q.Filename, &q.ContentType, &q.Size, &q.ReceivedTS); err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// ErrNotPending is content for a media id that has some already.
var ErrNotPending = errors.New("media already has content")

// Fill gives a pending media id its content.
func (s *Store) Fill(ctx context.Context, m Media) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE media SET sha256 = $1, content_type = $2, filename = $3, size = $4, expires_ts = 0,
			quarantined_by = `+inheritQuarantine+`
			WHERE server_name = $5 AND media_id = $6 AND sha256 = ''`, m.SHA256, m.ContentType, m.Filename, m.Size, m.ServerName, m.MediaID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotPending
		}
		return nil
	})
}

// PendingCount is how many media ids the user has waiting for content
// that have not expired at now.
func (s *Store) PendingCount(ctx context.Context, uploader string, now int64) (int, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM media WHERE uploader = $1 AND sha256 = '' AND expires_ts > $2`,
		uploader, now).Scan(&n)
	return n, err
}

// Delete removes a media id and returns its content's SHA-256 and whether
// another media id still uses that content.
func (s *Store) Delete(ctx context.Context, serverName, mediaID string) (sha string, shared bool, err error) {
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		e := tx.QueryRow(`DELETE FROM media WHERE server_name = $1 AND media_id = $2 RETURNING sha256`, serverName, mediaID).Scan(&sha)
		if errors.Is(e, sql.ErrNoRows) {
			return ErrNotFound
		}
		if e != nil || sha == "" {
			return e
		}
		var n int
		if e := tx.QueryRow(`SELECT COUNT(*) FROM media WHERE sha256 = $1`, sha).Scan(&n); e != nil {
			return e
		}
		shared = n > 0
		return nil
	})
	return sha, shared, err
}
