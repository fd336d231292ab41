package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// This file serves the admin API (adminapi): changes of the admin flag
// and reactivation, written by the userapi, and the listing of accounts,
// which the admin API reads directly (docs/decisions/0020).

// accountTokenHashes lists the token hashes of the account's devices, for
// callers to drop from their token caches after a change of the flags
// the caches hold.
func accountTokenHashes(ctx context.Context, tx *sql.Tx, userID string) ([][]byte, error) {
	rows, err := tx.QueryContext(ctx, `SELECT token_hash FROM devices WHERE user_id = $1`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hashes [][]byte
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		hashes = append(hashes, h)
	}
	return hashes, rows.Err()
}

// SetAdmin sets the account's admin flag and returns its devices' token
// hashes. ErrNotFound for unknown accounts.
func (s *Store) SetAdmin(ctx context.Context, userID string, admin bool) ([][]byte, error) {
	return s.setAccountFlag(ctx, `UPDATE accounts SET is_admin = $1 WHERE user_id = $2`, userID, admin)
}

// setAccountFlag runs update (the flag as $1, the account as $2) and
// returns the account's token hashes, whose cached devices carry the
// flag. ErrNotFound for unknown accounts.
func (s *Store) setAccountFlag(ctx context.Context, update, userID string, value bool) ([][]byte, error) {
	var hashes [][]byte
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, update, value, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("account %s: %w", userID, ErrNotFound)
		}
		hashes, err = accountTokenHashes(ctx, tx, userID)
		return err
	})
	return hashes, err
}

// Reactivate makes a deactivated account active again with the password
// hash (empty: no password login). ErrNotFound unless the account exists
// and is deactivated.
func (s *Store) Reactivate(ctx context.Context, userID, passwordHash string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET deactivated = FALSE, password_hash = $1
			WHERE user_id = $2 AND deactivated = TRUE`, passwordHash, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("deactivated account %s: %w", userID, ErrNotFound)
		}
		return nil
	})
}

// UserListQuery selects accounts for the admin API's user list.
type UserListQuery struct {
	// UserID matches user ids containing it; Name user ids or display
	// names containing it (case-insensitive). Name wins over UserID.
	UserID, Name string
	// Guests, Deactivated and Locked include those accounts; Admins, if
	// set, keeps only admins (true) or only non-admins (false).
	Guests, Deactivated, Locked bool
	Admins                      *bool
	// OrderBy is one of UserListOrders; Forward ascending.
	OrderBy       string
	Forward       bool
	Offset, Limit int
}

// UserListOrders are the sort keys of ListUsers, by Synapse's names.
var UserListOrders = map[string]string{
	"name":          "a.user_id",
	"is_guest":      "a.is_guest",
	"admin":         "a.is_admin",
	"user_type":     "a.user_id",
	"deactivated":   "a.deactivated",
	"shadow_banned": "a.shadow_banned",
	"displayname":   "COALESCE(p.displayname, '')",
	"avatar_url":    "COALESCE(p.avatar_url, '')",
	"creation_ts":   "a.created_ts",
	"last_seen_ts":  "COALESCE(d.last_seen_ts, 0)",
	"locked":        "a.locked",
}

// UserListEntry is one account of the admin user list.
type UserListEntry struct {
	UserID                 string
	DisplayName, AvatarURL string
	IsGuest, IsAdmin       bool
	Deactivated, Erased    bool
	Locked, Suspended      bool
	ShadowBanned           bool
	CreatedTS              int64
	// LastSeenTS is the latest request of any device; 0 for none.
	LastSeenTS int64
}

// ListUsers returns one page of accounts and how many match.
func (s *Store) ListUsers(ctx context.Context, q UserListQuery) ([]UserListEntry, int, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, vals ...any) {
		for _, v := range vals {
			args = append(args, v)
			cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)), 1)
		}
		where = append(where, cond)
	}
	switch {
	case q.Name != "":
		like := "%" + sqlutil.LikeEscape(strings.ToLower(q.Name)) + "%"
		add(`(LOWER(a.user_id) LIKE ? ESCAPE '\' OR LOWER(COALESCE(p.displayname, '')) LIKE ? ESCAPE '\')`, like, like)
	case q.UserID != "":
		add(`LOWER(a.user_id) LIKE ? ESCAPE '\'`, "%"+sqlutil.LikeEscape(strings.ToLower(q.UserID))+"%")
	}
	if !q.Guests {
		where = append(where, "a.is_guest = FALSE")
	}
	if !q.Deactivated {
		where = append(where, "a.deactivated = FALSE")
	}
	if !q.Locked {
		where = append(where, "a.locked = FALSE")
	}
	if q.Admins != nil {
		add("a.is_admin = ?", *q.Admins)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	from := ` FROM accounts a LEFT JOIN profiles p ON p.user_id = a.user_id
		LEFT JOIN (SELECT user_id, MAX(last_seen_ts) AS last_seen_ts FROM devices GROUP BY user_id) d ON d.user_id = a.user_id`
	var total int
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*)`+from+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	order, ok := UserListOrders[q.OrderBy]
	if !ok {
		order = "a.user_id"
	}
	dir := " ASC"
	if !q.Forward {
		dir = " DESC"
	}
	args = append(args, q.Limit, q.Offset)
	rows, err := s.db.Read.QueryContext(ctx, `SELECT a.user_id, COALESCE(p.displayname, ''), COALESCE(p.avatar_url, ''),
		a.is_guest, a.is_admin, a.deactivated, a.erased, a.locked, a.suspended, a.created_ts, COALESCE(d.last_seen_ts, 0),
		a.shadow_banned`+
		from+cond+` ORDER BY `+order+dir+`, a.user_id`+dir+
		` LIMIT $`+strconv.Itoa(len(args)-1)+` OFFSET $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []UserListEntry{}
	for rows.Next() {
		var e UserListEntry
		if err := rows.Scan(&e.UserID, &e.DisplayName, &e.AvatarURL, &e.IsGuest, &e.IsAdmin, &e.Deactivated, &e.Erased,
			&e.Locked, &e.Suspended, &e.CreatedTS, &e.LastSeenTS, &e.ShadowBanned); err != nil {
			return nil, 0, err
		}
		out = append(out, e)
	}
	return out, total, rows.Err()
}

// AdminUser is one account as the admin API shows it; ErrNotFound for
// unknown accounts.
func (s *Store) AdminUser(ctx context.Context, userID string) (*UserListEntry, error) {
	e := UserListEntry{UserID: userID}
	err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(p.displayname, ''), COALESCE(p.avatar_url, ''),
		a.is_guest, a.is_admin, a.deactivated, a.erased, a.locked, a.suspended, a.created_ts,
		COALESCE((SELECT MAX(last_seen_ts) FROM devices WHERE user_id = a.user_id), 0), a.shadow_banned
		FROM accounts a LEFT JOIN profiles p ON p.user_id = a.user_id WHERE a.user_id = $1`, userID).
		Scan(&e.DisplayName, &e.AvatarURL, &e.IsGuest, &e.IsAdmin, &e.Deactivated, &e.Erased, &e.Locked, &e.Suspended,
			&e.CreatedTS, &e.LastSeenTS, &e.ShadowBanned)
	if err != nil {
		return nil, notFound(err, "account "+userID)
	}
	return &e, nil
}
