// Package storage holds the admin API's own tables (the audit log) and
// its read-only queries over other components' tables for admin listings
// (docs/decisions/0020).
package storage

import (
	"context"
	"database/sql"
	"embed"
	"strings"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store reads and writes the admin API's tables.
type Store struct {
	db *sqlutil.DB
}

// Open migrates the schema and returns the store.
func Open(ctx context.Context, db *sqlutil.DB) (*Store, error) {
	if err := db.Migrate(ctx, "adminapi", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// AuditEntry is one admin action.
type AuditEntry struct {
	ID      int64
	TS      int64
	Admin   string
	Action  string
	Target  string
	Status  int
	Details string
}

// AddAudit appends an entry to the audit log.
func (s *Store) AddAudit(ctx context.Context, e AuditEntry) error {
	if e.Details == "" {
		e.Details = "{}"
	}
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO admin_audit_log (ts, admin_user_id, action, target, status, details)
			VALUES ($1, $2, $3, $4, $5, $6)`, e.TS, e.Admin, e.Action, e.Target, e.Status, e.Details)
		return err
	})
}

// AuditQuery selects audit entries; empty fields do not filter.
type AuditQuery struct {
	Admin, Target, Action string
	// Forward lists oldest first; otherwise newest first.
	Forward       bool
	Offset, Limit int
}

// Audit returns one page of the audit log and how many entries match.
func (s *Store) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, int, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.Replace(cond, "?", "$"+itoa(len(args)), 1))
	}
	if q.Admin != "" {
		add("admin_user_id = ?", q.Admin)
	}
	if q.Target != "" {
		add("target = ?", q.Target)
	}
	if q.Action != "" {
		add("action = ?", q.Action)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM admin_audit_log`+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	order := "DESC"
	if q.Forward {
		order = "ASC"
	}
	args = append(args, q.Limit, q.Offset)
	rows, err := s.db.Read.QueryContext(ctx, `SELECT audit_id, ts, admin_user_id, action, target, status, details
		FROM admin_audit_log`+cond+` ORDER BY audit_id `+order+` LIMIT $`+itoa(len(args)-1)+` OFFSET $`+itoa(len(args)), args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.ID, &e.TS, &e.Admin, &e.Action, &e.Target, &e.Status, &e.Details); err != nil {
			return nil, 0, err
		}
		out = append(out, e)
	}
	return out, total, rows.Err()
}
