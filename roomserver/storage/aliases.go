package storage

import (
	"context"
	"database/sql"
	"errors"
)

// ErrAliasExists is returned when an alias is already taken.
var ErrAliasExists = errors.New("alias exists")

// PutAlias maps alias to roomID unless the alias is taken.
func (s *Store) PutAlias(ctx context.Context, alias, roomID, creator string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM room_aliases WHERE alias = $1`, alias).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrAliasExists
		}
		_, err := tx.Exec(`INSERT INTO room_aliases (alias, room_id, creator) VALUES ($1, $2, $3)`, alias, roomID, creator)
		return err
	})
}

// Alias resolves an alias.
func (s *Store) Alias(ctx context.Context, alias string) (roomID, creator string, err error) {
	err = s.db.Read.QueryRowContext(ctx, `SELECT room_id, creator FROM room_aliases WHERE alias = $1`, alias).Scan(&roomID, &creator)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", ErrNotFound
	}
	return roomID, creator, err
}

// DeleteAlias removes an alias.
func (s *Store) DeleteAlias(ctx context.Context, alias string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM room_aliases WHERE alias = $1`, alias)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// AliasesOfRoom lists a room's local aliases.
func (s *Store) AliasesOfRoom(ctx context.Context, roomID string) ([]string, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT alias FROM room_aliases WHERE room_id = $1 ORDER BY alias`, roomID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
