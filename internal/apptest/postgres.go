package apptest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
)

var (
	pgOnce sync.Once
	pgBase string
)

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
