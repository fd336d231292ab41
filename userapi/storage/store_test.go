package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// forEachBackend runs fn against a fresh SQLite database and, when
// ROHRPOST_TEST_POSTGRES names a PostgreSQL server, against a fresh schema
// there.
func forEachBackend(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqlutil.Open(sqlutil.Options{Type: "sqlite", Path: filepath.Join(t.TempDir(), "test.db")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		fn(t, openStore(t, db))
	})
	uri := os.Getenv("ROHRPOST_TEST_POSTGRES")
	if uri == "" {
		return
	}
	t.Run("postgres", func(t *testing.T) {
		fn(t, openStore(t, postgresSchema(t, uri)))
	})
}

func openStore(t *testing.T, db *sqlutil.DB) *Store {
	t.Helper()
	s, err := Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// postgresSchema creates a schema of its own for one test and opens the
// database with it as the search path; the schema is dropped afterwards.
func postgresSchema(t *testing.T, uri string) *sqlutil.DB {
	t.Helper()
	db, err := sqlutil.Open(sqlutil.Options{Type: "postgres", URI: postgresSchemaURI(t, uri), MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// postgresSchemaURI creates a schema for one test and returns the URI
// that has it as the search path.
func postgresSchemaURI(t *testing.T, uri string) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "test_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("postgres", uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
