package userexport

import (
	"archive/zip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// ErrUnknownUser is a user without an account here.
var ErrUnknownUser = errors.New("no such local account")

// Exporter writes archives of users' data.
type Exporter struct {
	DB    *sqlutil.DB
	Media Media
	// Now stamps the archive; time.Now when nil.
	Now func() time.Time
}

// archive is one export in progress.
type archive struct {
	ctx   context.Context
	db    *sql.DB
	zw    *zip.Writer
	user  string
	media Media
	// counts of what was written, for the erasure section
	counts map[string]int
	// the account's state, for the erasure section
	deactivated, erased bool
	// at is when the archive was made, the time of each of its files
	at time.Time
}

// Check tells whether user has an account, before an archive is begun
// (an HTTP answer cannot turn into an error once the archive streams).
func (e *Exporter) Check(ctx context.Context, user spec.UserID) error {
	var n int
	if err := e.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE user_id = $1`, user.String()).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", user.String(), ErrUnknownUser)
	}
	return nil
}

// Write writes the archive of user to w. The files, in this order:
//
//	manifest.json      who, when, and what each file holds
//	account.json       the account: flags, creation time, SSO links
//	profile.json       display name, avatar, further profile fields
//	devices.json       devices with their last address and user agent
//	threepids.json     e-mail addresses
//	rooms.json         every room membership, with its event
//	events.jsonl       every event the user sent, one stored PDU a line
//	account_data.json  account data (global and per room)
//	push_rules.json    the user's changes to the default push rules
//	pushers.json       where pushes go
//	reports.json       reports the user made
//	media.json         uploads, with the file name in the archive
//	media/…            the uploaded files
//	erasure.json       for a deactivated account: what is left and why
func (e *Exporter) Write(ctx context.Context, w io.Writer, user spec.UserID) error {
	if err := e.Check(ctx, user); err != nil {
		return err
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	a := &archive{ctx: ctx, db: e.DB.Read, zw: zip.NewWriter(w), user: user.String(), media: e.Media, counts: map[string]int{}, at: now()}
	steps := []func() error{
		a.manifest,
		a.account, a.profile, a.devices, a.threePIDs, a.rooms, a.events,
		a.accountData, a.pushRules, a.pushers, a.reports, a.uploads, a.erasure,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return a.zw.Close()
}

// create starts a file of the archive.
func (a *archive) create(name string) (io.Writer, error) {
	return a.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: a.at})
}

// writeJSON writes one small value as a file.
func (a *archive) writeJSON(name string, v any) error {
	f, err := a.create(name)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeRows writes a JSON array file, one element per row of query,
// made by scan, as the rows are read.
func (a *archive) writeRows(name, query string, scan func(*sql.Rows) (any, error), args ...any) error {
	rows, err := a.db.QueryContext(a.ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer rows.Close()
	f, err := a.create(name)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, "[\n"); err != nil {
		return err
	}
	n := 0
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if n > 0 {
			if _, err := io.WriteString(f, ",\n"); err != nil {
				return err
			}
		}
		if _, err := f.Write(raw); err != nil {
			return err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	a.counts[name] = n
	_, err = io.WriteString(f, "\n]\n")
	return err
}

// manifest says what the archive is.
func (a *archive) manifest() error {
	return a.writeJSON("manifest.json", map[string]any{
		"user_id":    a.user,
		"created_ts": a.at.UnixMilli(),
		"format":     "rohrpost user export 1",
		"files": map[string]string{
			"account.json":      "the account: flags and creation time, single sign-on links",
			"profile.json":      "display name, avatar and further profile fields",
			"devices.json":      "logged-in devices with the address and user agent they were last seen with",
			"threepids.json":    "e-mail addresses bound to the account",
			"rooms.json":        "every room membership and the event that set it",
			"events.jsonl":      "every event the user sent, as stored (the signed event, one per line)",
			"account_data.json": "account data, global and per room",
			"push_rules.json":   "the user's changes to the default push rules (null: none)",
			"pushers.json":      "where push notifications are sent",
			"reports.json":      "reports of content the user made",
			"media.json":        "uploaded files; file names the copy under media/",
			"erasure.json":      "for a deactivated account: what the server still holds, and why",
		},
	})
}
