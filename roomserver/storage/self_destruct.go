package storage

import (
	"context"
	"database/sql"
)

// NextSelfDestruct is the earliest pending self-destruction time (MSC2228);
// ok is false when no event waits to destroy itself.
func (s *Store) NextSelfDestruct(ctx context.Context) (ts int64, ok bool, err error) {
	var v sql.NullInt64
	err = s.db.Read.QueryRowContext(ctx, `SELECT MIN(self_destruct_ts) FROM events WHERE self_destruct_ts IS NOT NULL`).Scan(&v)
	return v.Int64, v.Valid, err
}

// DueSelfDestructs returns up to limit events whose self-destruction time
// is at or before now.
func (s *Store) DueSelfDestructs(ctx context.Context, now int64, limit int) ([]*Event, error) {
	return scanEvents(s.db.Read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events
		WHERE self_destruct_ts IS NOT NULL AND self_destruct_ts <= $1 ORDER BY self_destruct_ts LIMIT $2`, now, limit))
}
