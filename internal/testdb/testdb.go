// Package testdb gives tests a fresh database: SQLite in a temporary
// directory, or a new PostgreSQL database when ROHRPOST_TEST_POSTGRES names
// a server, so that every storage test runs against both.
package testdb

import (
	"crypto/rand"
	"path/filepath"
	"testing"

	"database/sql"
	"encoding/hex"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"net/url"
	"os"
	"sync"
)

var (
	pgOnce sync.Once
	pgBase string
)

// Options returns the options of a fresh, empty database for one test.
func Options(t testing.TB) sqlutil.Options {
	t.Helper()
	if uri := PostgresURI(); uri != "" {
		return sqlutil.Options{Type: "postgres", URI: uri}
	}
	return sqlutil.Options{Type: "sqlite", Path: filepath.Join(t.TempDir(), "test.db")}
}

// Open opens a fresh database that closes when the test ends.
func Open(t testing.TB) *sqlutil.DB {
	t.Helper()
	db, err := sqlutil.Open(Options(t))
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// PostgresURI returns a URI of a fresh PostgreSQL database when
// ROHRPOST_TEST_POSTGRES names a server (a URI to an existing database the
// tests may create databases from), else "".
func PostgresURI() string {
	base := os.Getenv("ROHRPOST_TEST_POSTGRES")
	if base == "" {
		return ""
	}
	pgOnce.Do(func() { pgBase = base })
	u, err := url.Parse(pgBase)
	if err != nil {
		panic("ROHRPOST_TEST_POSTGRES: " + err.Error())
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "rohrpost_test_" + hex.EncodeToString(b[:])
	db, err := sql.Open("postgres", pgBase)
	if err != nil {
		panic("ROHRPOST_TEST_POSTGRES: " + err.Error())
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		panic("create test database: " + err.Error())
	}
	u.Path = "/" + name
	return u.String()
}
