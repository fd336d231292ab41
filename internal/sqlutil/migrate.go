package sqlutil

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// Migrate applies, in name order, the *.sql files in dir of fsys (a
// component's embedded migrations) that the component has not applied yet.
// Each file runs in its own transaction and is recorded in
// schema_migrations, so a crash mid-way retries the file.
func (db *DB) Migrate(ctx context.Context, component string, fsys fs.FS, dir string) error {
	migrations, err := fs.Sub(fsys, dir)
	if err != nil {
		return err
	}
	err = db.Write(ctx, func(tx *sql.Tx) error {
		if err := db.lockMigrations(tx); err != nil {
			return err
		}
		_, err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
		component TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (component, name))`)
		return err
	})
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		body, err := fs.ReadFile(migrations, name)
		if err != nil {
			return err
		}
		err = db.Write(ctx, func(tx *sql.Tx) error {
			if err := db.lockMigrations(tx); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(`SELECT COUNT(*) FROM schema_migrations WHERE component = $1 AND name = $2`, component, name).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range splitStatements(db.Schema(string(body))) {
				if _, err := tx.Exec(stmt); err != nil {
					return fmt.Errorf("%s: %w", firstLine(stmt), err)
				}
			}
			_, err := tx.Exec(`INSERT INTO schema_migrations (component, name) VALUES ($1, $2)`, component, name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s/%s: %w", component, name, err)
		}
	}
	return nil
}

// splitStatements splits on semicolons at line ends; our migrations contain
// no procedural code, so that is enough.
func splitStatements(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ";\n") {
		if p := strings.TrimSpace(part); p != "" && !onlyComments(p) {
			out = append(out, strings.TrimSuffix(p, ";"))
		}
	}
	return out
}

func onlyComments(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "--") {
			return false
		}
	}
	return true
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// migrationLock is an arbitrary constant naming PostgreSQL's advisory lock
// for migrations.
const migrationLock = 0x726f6872

// lockMigrations serialises migrations of processes that start at the same
// time against one PostgreSQL database (separate services); SQLite's single
// writer serialises them already.
func (db *DB) lockMigrations(tx *sql.Tx) error {
	if db.Dialect != Postgres {
		return nil
	}
	_, err := tx.Exec(`SELECT pg_advisory_xact_lock($1)`, migrationLock)
	return err
}
