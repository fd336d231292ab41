package bundesmessenger

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"time"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

//go:embed migrations/*.sql
var migrations embed.FS

// documentMaintenance names the maintenance document's row.
const documentMaintenance = "maintenance"

// Store holds the documents an admin set. It lives in the shared
// database, not in memory, so that a change reaches every process of a
// separate-services deployment and survives restarts.
type Store struct {
	db *sqlutil.DB
}

// OpenStore migrates the table and returns the store.
func OpenStore(ctx context.Context, db *sqlutil.DB) (*Store, error) {
	if err := db.Migrate(ctx, "bundesmessenger", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// document returns a stored document, or nil if an admin set none.
func (s *Store) document(ctx context.Context, name string) ([]byte, error) {
	var doc string
	err := s.db.Read.QueryRowContext(ctx, `SELECT document FROM bundesmessenger_documents WHERE name = $1`, name).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []byte(doc), nil
}

func (s *Store) setDocument(ctx context.Context, name string, doc []byte, by string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO bundesmessenger_documents (name, document, updated_ts, updated_by) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO UPDATE SET document = excluded.document, updated_ts = excluded.updated_ts, updated_by = excluded.updated_by`,
			name, string(doc), time.Now().UnixMilli(), by)
		return err
	})
}

func (s *Store) deleteDocument(ctx context.Context, name string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM bundesmessenger_documents WHERE name = $1`, name)
		return err
	})
}
