package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// Pusher is a row of pushers.
type Pusher struct {
	UserID            string
	SessionID         int64
	AppID             string
	PushKey           string
	Kind              string
	AppDisplayName    string
	DeviceDisplayName string
	ProfileTag        string
	Lang              string
	Data              string
	CreatedTS         int64
}

// ErrTooManyPushers is returned when a user would have more than the
// limit given to PutPusher.
var ErrTooManyPushers = fmt.Errorf("too many pushers")

// PutPusher creates or replaces the user's pusher for (app id, push key).
// Unless appendOthers, the same app id and push key of other users are
// deleted: the phone has changed hands.
func (s *Store) PutPusher(ctx context.Context, p Pusher, appendOthers bool, limit int) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		if !appendOthers {
			if _, err := tx.ExecContext(ctx, `DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3`,
				p.AppID, p.PushKey, p.UserID); err != nil {
				return err
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pushers WHERE user_id = $1 AND NOT (app_id = $2 AND pushkey = $3)`,
			p.UserID, p.AppID, p.PushKey).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			return ErrTooManyPushers
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO pushers (user_id, session_id, app_id, pushkey, kind, app_display_name,
			device_display_name, profile_tag, lang, data, created_ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET session_id = excluded.session_id, kind = excluded.kind,
			app_display_name = excluded.app_display_name, device_display_name = excluded.device_display_name,
			profile_tag = excluded.profile_tag, lang = excluded.lang, data = excluded.data`,
			p.UserID, p.SessionID, p.AppID, p.PushKey, p.Kind, p.AppDisplayName, p.DeviceDisplayName, p.ProfileTag, p.Lang, p.Data, p.CreatedTS)
		return err
	})
}

// DeletePusher deletes the user's pusher for (app id, push key), if any.
func (s *Store) DeletePusher(ctx context.Context, userID, appID, pushKey string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3`, userID, appID, pushKey)
		return err
	})
}

// DeletePushKey deletes the pushers of a push key a gateway rejected.
func (s *Store) DeletePushKey(ctx context.Context, appID, pushKey string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2`, appID, pushKey)
		return err
	})
}

const pusherColumns = `user_id, session_id, app_id, pushkey, kind, app_display_name, device_display_name, profile_tag, lang, data, created_ts`

// Pushers lists the pushers of users, by user, oldest first.
func (s *Store) Pushers(ctx context.Context, userIDs ...string) ([]Pusher, error) {
	var out []Pusher
	for start := 0; start < len(userIDs); start += queryChunk {
		chunk := userIDs[start:min(start+queryChunk, len(userIDs))]
		args := make([]any, len(chunk))
		for i, u := range chunk {
			args[i] = u
		}
		rows, err := s.db.Read.QueryContext(ctx, `SELECT `+pusherColumns+` FROM pushers WHERE user_id IN (`+sqlutil.InList(1, len(chunk))+`)
			ORDER BY user_id, created_ts, app_id, pushkey`, args...)
		if err != nil {
			return nil, err
		}
		got, err := scanPushers(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// deletePushersOf deletes the pushers set up by ended logins.
func deletePushersOf(ctx context.Context, tx *sql.Tx, sessionIDs ...int64) error {
	for _, id := range sessionIDs {
		if _, err := tx.ExecContext(ctx, `DELETE FROM pushers WHERE session_id = $1`, id); err != nil {
			return fmt.Errorf("delete pushers: %w", err)
		}
	}
	return nil
}

// PushersInRoom returns the pushers of the room's joined members, and
// how many members are joined when any has a pusher. It reads the
// roomserver's memberships table (docs/decisions/0001): one statement
// per event instead of the member list and then their pushers.
func (s *Store) PushersInRoom(ctx context.Context, roomNID int64) ([]Pusher, int, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+prefixed("p.", pusherColumns)+` FROM memberships m
		JOIN pushers p ON p.user_id = m.user_id WHERE m.room_nid = $1 AND m.membership = 'join'
		ORDER BY p.user_id, p.created_ts, p.app_id, p.pushkey`, roomNID)
	if err != nil {
		return nil, 0, err
	}
	out, err := scanPushers(rows)
	if err != nil || len(out) == 0 {
		return nil, 0, err
	}
	var joined int
	err = s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE room_nid = $1 AND membership = 'join'`, roomNID).Scan(&joined)
	return out, joined, err
}

func scanPushers(rows *sql.Rows) ([]Pusher, error) {
	defer rows.Close()
	var out []Pusher
	for rows.Next() {
		var p Pusher
		if err := rows.Scan(&p.UserID, &p.SessionID, &p.AppID, &p.PushKey, &p.Kind, &p.AppDisplayName, &p.DeviceDisplayName,
			&p.ProfileTag, &p.Lang, &p.Data, &p.CreatedTS); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// prefixed qualifies each of a comma-separated column list with p.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}
