package sqlutil

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/lib/pq"           // PostgreSQL driver
	_ "github.com/mattn/go-sqlite3" // SQLite driver
)

// Dialect names the SQL engine behind a DB.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// Options say which database to open.
type Options struct {
	// Type is "sqlite" or "postgres".
	Type string
	// Path is the SQLite file.
	Path string
	// URI is the PostgreSQL connection string.
	URI string
	// MaxOpenConns bounds the PostgreSQL pool (and the SQLite read pool).
	MaxOpenConns int
}

// DB is the shared database. Reads may use any connection; every write goes
// through Write so that writes are batched into few transactions and, on
// SQLite, never contend for the single writer lock.
type DB struct {
	Dialect Dialect
	// Read serves queries outside write transactions.
	Read   *sql.DB
	writer *sql.DB
	commit *groupCommitter
	// path is the SQLite file, for lock files beside it.
	path string
}

// ErrUnsupported is returned for an unknown database type.
var ErrUnsupported = errors.New("unsupported database type")

// Open opens the database and starts its group committer.
func Open(opts Options) (*DB, error) {
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 8
	}
	db := &DB{}
	switch opts.Type {
	case "sqlite", "sqlite3", "":
		if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
		db.Dialect = SQLite
		db.path = opts.Path
		// FULL synchronous: a commit is on disk before the caller hears of it.
		// Group commit makes the fsync per batch, not per event, affordable.
		q := url.Values{}
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "FULL")
		q.Set("_busy_timeout", "10000")
		q.Set("_foreign_keys", "off")
		q.Set("_txlock", "immediate")
		q.Set("_stmt_cache_size", sqliteStmtCache)
		dsn := "file:" + opts.Path + "?" + q.Encode()
		w, err := sql.Open("sqlite3", dsn)
		if err != nil {
			return nil, err
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		rq := url.Values{}
		rq.Set("_journal_mode", "WAL")
		rq.Set("_busy_timeout", "10000")
		rq.Set("_query_only", "true")
		rq.Set("_stmt_cache_size", sqliteStmtCache)
		r, err := sql.Open("sqlite3", "file:"+opts.Path+"?"+rq.Encode())
		if err != nil {
			_ = w.Close()
			return nil, err
		}
		r.SetMaxOpenConns(opts.MaxOpenConns)
		r.SetMaxIdleConns(opts.MaxOpenConns)
		// Open the writer first so that WAL mode is set before readers arrive.
		if err := w.Ping(); err != nil {
			_ = w.Close()
			_ = r.Close()
			return nil, fmt.Errorf("open sqlite %s: %w", opts.Path, err)
		}
		db.writer, db.Read = w, r
	case "postgres", "postgresql", "pg":
		db.Dialect = Postgres
		p, err := sql.Open("postgres", opts.URI)
		if err != nil {
			return nil, err
		}
		p.SetMaxOpenConns(opts.MaxOpenConns)
		p.SetMaxIdleConns(opts.MaxOpenConns)
		if err := p.Ping(); err != nil {
			_ = p.Close()
			return nil, fmt.Errorf("connect to postgres: %w", err)
		}
		db.writer, db.Read = p, p
	default:
		return nil, fmt.Errorf("%w %q", ErrUnsupported, opts.Type)
	}
	db.commit = newGroupCommitter(db.writer)
	return db, nil
}

// Close stops the committer and closes the connections.
func (db *DB) Close() error {
	db.commit.stop()
	err := db.writer.Close()
	if db.Read != db.writer {
		if rerr := db.Read.Close(); err == nil {
			err = rerr
		}
	}
	return err
}

// Write runs fn inside a transaction shared with other concurrent writers.
// fn runs within its own savepoint: if it fails, only its changes are undone
// and its error returned; the others still commit. Write returns after the
// commit is durable. fn must not keep tx or touch memory that outlives a
// failed commit.
func (db *DB) Write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.commit.do(ctx, fn)
}

// Schema rewrites the dialect-neutral type placeholders of a migration:
// {serial} is an auto-incrementing integer primary key, {blob} binary data,
// {bigint} a 64-bit integer.
func (db *DB) Schema(sqlText string) string {
	r := strings.NewReplacer(
		"{serial}", map[Dialect]string{SQLite: "INTEGER PRIMARY KEY AUTOINCREMENT", Postgres: "BIGSERIAL PRIMARY KEY"}[db.Dialect],
		"{blob}", map[Dialect]string{SQLite: "BLOB", Postgres: "BYTEA"}[db.Dialect],
		"{bigint}", "BIGINT",
	)
	return r.Replace(sqlText)
}

// InList returns "$start,$start+1,…" for n list parameters.
func InList(start, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "$%d", start+i)
	}
	return b.String()
}

// Strings reads the rows of a one-column query of text, as returned by
// QueryContext.
func Strings(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// likeEscaper is LikeEscape's replacer.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// LikeEscape makes s match itself in a LIKE pattern written with
// ESCAPE '\' (both dialects treat % and _ as wildcards otherwise).
func LikeEscape(s string) string { return likeEscaper.Replace(s) }

// sqliteStmtCache is how many prepared statements each SQLite connection
// keeps. Preparing took a fifth of an initial /sync's time: the same few
// dozen statements run for every room.
const sqliteStmtCache = "128"
