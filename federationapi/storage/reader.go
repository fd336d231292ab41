package storage

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// Reader is the read-only view of the send queue's destinations that
// the admin API's listings get (decision 0020); the queue alone writes.
type Reader interface {
	Destinations(ctx context.Context, q DestinationQuery) ([]DestinationStatus, int, error)
	DestinationStatusOf(ctx context.Context, destination string) (DestinationStatus, error)
}

var _ Reader = (*Store)(nil)

// OpenReader returns a Reader. It never migrates: the federation API
// owns the tables, and it fails when they lack a migration this code
// expects (docs/deploy.md, "Upgrading").
func OpenReader(ctx context.Context, db *sqlutil.DB) (Reader, error) {
	if err := db.CheckMigrated(ctx, "federationapi", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// DestinationStatus is a destination's health as Synapse's admin API
// shows it. FailureTS and LastSuccessPos are 0 for none.
type DestinationStatus struct {
	Destination    string
	Failures       int
	RetryAt        int64
	LastFailedTS   int64
	FailureTS      int64
	LastSuccessPos int64
}

// DestinationOrders are the sort keys of Destinations, by Synapse's
// names.
var DestinationOrders = map[string]string{
	"destination":                     "destination",
	"retry_last_ts":                   "CASE WHEN failures > 0 THEN last_failed_ts ELSE 0 END",
	"retry_interval":                  "CASE WHEN failures > 0 THEN retry_at - last_failed_ts ELSE 0 END",
	"failure_ts":                      "COALESCE(failure_ts, 0)",
	"last_successful_stream_ordering": "COALESCE(last_success_pos, 0)",
}

// DestinationQuery selects and pages destinations.
type DestinationQuery struct {
	// Contains filters on a substring of the name.
	Contains      string
	OrderBy       string
	Backwards     bool
	Offset, Limit int
}

const destinationColumns = `destination, failures, retry_at, last_failed_ts, COALESCE(failure_ts, 0), COALESCE(last_success_pos, 0)`

func scanDestination(sc interface{ Scan(...any) error }) (DestinationStatus, error) {
	var d DestinationStatus
	err := sc.Scan(&d.Destination, &d.Failures, &d.RetryAt, &d.LastFailedTS, &d.FailureTS, &d.LastSuccessPos)
	return d, err
}

// Destinations returns one page of the destinations and how many match.
func (s *Store) Destinations(ctx context.Context, q DestinationQuery) ([]DestinationStatus, int, error) {
	order, ok := DestinationOrders[q.OrderBy]
	if !ok {
		order = "destination"
	}
	cond, args := "", []any{}
	if q.Contains != "" {
		args = append(args, "%"+strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(q.Contains))+"%")
		cond = ` WHERE LOWER(destination) LIKE $1 ESCAPE '\'`
	}
	var total int
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM federation_queue_destinations`+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	dir := "ASC"
	if q.Backwards {
		dir = "DESC"
	}
	args = append(args, q.Limit, q.Offset)
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+destinationColumns+` FROM federation_queue_destinations`+cond+
		` ORDER BY `+order+` `+dir+`, destination `+dir+` LIMIT $`+strconv.Itoa(len(args)-1)+` OFFSET $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []DestinationStatus{}
	for rows.Next() {
		d, err := scanDestination(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, d)
	}
	return out, total, rows.Err()
}

// DestinationStatusOf is one destination; ErrNotFound if never queued
// for.
func (s *Store) DestinationStatusOf(ctx context.Context, destination string) (DestinationStatus, error) {
	d, err := scanDestination(s.db.Read.QueryRowContext(ctx, `SELECT `+destinationColumns+` FROM federation_queue_destinations
		WHERE destination = $1`, destination))
	if errors.Is(err, sql.ErrNoRows) {
		return d, ErrNotFound
	}
	return d, err
}
