package storage

import (
	"context"
	"embed"
	"errors"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// Store reads and writes the federation API's tables.
type Store struct {
	db *sqlutil.DB
}

// Open migrates the schema and returns the store.
func Open(ctx context.Context, db *sqlutil.DB) (*Store, error) {
	if err := db.Migrate(ctx, "federationapi", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}
