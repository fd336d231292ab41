package storage

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Errors the store returns; the userapi maps them to its own.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Store reads and writes the userapi tables.
type Store struct {
	db *sqlutil.DB
}

// Open migrates the schema and returns the store.
func Open(ctx context.Context, db *sqlutil.DB) (*Store, error) {
	if err := db.Migrate(ctx, "userapi", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// notFound turns sql.ErrNoRows into ErrNotFound and names what was missing.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}
