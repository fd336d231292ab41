package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

// The admin API's queries and changes of media (docs/admin-api.md).

// Ref names media by its mxc parts.
type Ref struct {
	ServerName, MediaID string
}

// QuarantineMedia marks the media refs name, and every other media id with
// the same content, as quarantined by admin; protected media is left
// alone. It returns how many media ids it marked.
func (s *Store) QuarantineMedia(ctx context.Context, refs []Ref, admin string) (int, error) {
	var n int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, ref := range refs {
			var sha string
			err := tx.QueryRowContext(ctx, `SELECT sha256 FROM media WHERE server_name = $1 AND media_id = $2`,
				ref.ServerName, ref.MediaID).Scan(&sha)
			if err == sql.ErrNoRows {
				continue
			}
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `UPDATE media SET quarantined_by = $1
				WHERE quarantined_by = '' AND NOT safe_from_quarantine
				AND ((server_name = $2 AND media_id = $3) OR (sha256 = $4 AND sha256 <> ''))`,
				admin, ref.ServerName, ref.MediaID, sha)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += k
		}
		return nil
	})
	return int(n), err
}

// Unquarantine lifts the quarantine of one media id; ErrNotFound for
// unknown media.
func (s *Store) Unquarantine(ctx context.Context, ref Ref) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE media SET quarantined_by = '' WHERE server_name = $1 AND media_id = $2`,
			ref.ServerName, ref.MediaID)
		return affected(res, err, ref)
	})
}

// Protect sets whether local media is safe from quarantine; ErrNotFound
// for unknown media.
func (s *Store) Protect(ctx context.Context, ref Ref, protect bool) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE media SET safe_from_quarantine = $1 WHERE server_name = $2 AND media_id = $3`,
			protect, ref.ServerName, ref.MediaID)
		return affected(res, err, ref)
	})
}

func affected(res sql.Result, err error, ref Ref) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("mxc://%s/%s: %w", ref.ServerName, ref.MediaID, ErrNotFound)
	}
	return nil
}

// Touch notes that media was served at ts.
func (s *Store) Touch(ctx context.Context, ref Ref, ts int64) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE media SET last_access_ts = $1 WHERE server_name = $2 AND media_id = $3 AND last_access_ts < $1`,
			ts, ref.ServerName, ref.MediaID)
		return err
	})
}

// UserMediaOrders are the sort keys of UserMedia, as Synapse names them.
var UserMediaOrders = map[string]string{
	"created_ts": "created_ts", "media_id": "media_id", "upload_name": "filename", "last_access_ts": "last_access_ts",
	"media_length": "size", "media_type": "content_type", "quarantined_by": "quarantined_by",
	"safe_from_quarantine": "safe_from_quarantine",
}

// UserMediaQuery is a page of a local user's uploads.
type UserMediaQuery struct {
	Uploader      string
	OrderBy       string // a key of UserMediaOrders
	Forward       bool
	Offset, Limit int
}

// UserMedia returns one page of what a user uploaded and how many there
// are in all.
func (s *Store) UserMedia(ctx context.Context, q UserMediaQuery) ([]Media, int, error) {
	col, ok := UserMediaOrders[q.OrderBy]
	if !ok {
		col = "created_ts"
	}
	var total int
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM media WHERE uploader = $1`, q.Uploader).Scan(&total); err != nil {
		return nil, 0, err
	}
	dir := " ASC"
	if !q.Forward {
		dir = " DESC"
	}
	out, err := scanMediaRows(s.db.Read.QueryContext(ctx, `SELECT `+mediaColumns+` FROM media WHERE uploader = $1
		ORDER BY `+col+dir+`, media_id`+dir+` LIMIT $2 OFFSET $3`, q.Uploader, q.Limit, q.Offset))
	return out, total, err
}

func scanMediaRows(rows *sql.Rows, err error) ([]Media, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Media{}
	for rows.Next() {
		m, err := scanMedia(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *m)
	}
	return out, rows.Err()
}

// OldLocalMedia is local media with content served last before
// beforeTS and larger than sizeGT bytes, neither protected nor
// quarantined (a quarantined row keeps its content quarantined for new
// copies; see inheritQuarantine).
func (s *Store) OldLocalMedia(ctx context.Context, beforeTS, sizeGT int64) ([]Media, error) {
	return scanMediaRows(s.db.Read.QueryContext(ctx, `SELECT `+mediaColumns+` FROM media
		WHERE uploader <> '' AND sha256 <> '' AND last_access_ts < $1 AND size > $2
		AND NOT safe_from_quarantine AND quarantined_by = '' ORDER BY created_ts`, beforeTS, sizeGT))
}

// OldRemoteMedia is cached media of other servers served last before
// beforeTS and not quarantined.
func (s *Store) OldRemoteMedia(ctx context.Context, beforeTS int64) ([]Media, error) {
	return scanMediaRows(s.db.Read.QueryContext(ctx, `SELECT `+mediaColumns+` FROM media
		WHERE uploader = '' AND last_access_ts < $1 AND quarantined_by = '' ORDER BY created_ts`, beforeTS))
}

// UploadsOf lists the media ids a user uploaded.
func (s *Store) UploadsOf(ctx context.Context, uploader string) ([]Ref, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT server_name, media_id FROM media WHERE uploader = $1`, uploader)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Ref
	for rows.Next() {
		var r Ref
		if err := rows.Scan(&r.ServerName, &r.MediaID); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// UploaderStats is how much one user uploaded.
type UploaderStats struct {
	UserID      string
	MediaCount  int
	MediaLength int64
}

// UploaderStatistics sums the uploads of each local user made in
// [fromTS, untilTS] (untilTS 0: up to now).
func (s *Store) UploaderStatistics(ctx context.Context, fromTS, untilTS int64) ([]UploaderStats, error) {
	args := []any{fromTS}
	cond := ` AND created_ts >= $1`
	if untilTS > 0 {
		args = append(args, untilTS)
		cond += ` AND created_ts <= $` + strconv.Itoa(len(args))
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT uploader, COUNT(*), COALESCE(SUM(size), 0) FROM media
		WHERE uploader <> ''`+cond+` GROUP BY uploader ORDER BY uploader`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []UploaderStats{}
	for rows.Next() {
		var u UploaderStats
		if err := rows.Scan(&u.UserID, &u.MediaCount, &u.MediaLength); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
