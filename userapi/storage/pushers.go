package storage

import (
	"context"
	"database/sql"
	"fmt"

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
		for rows.Next() {
			var p Pusher
			if err := rows.Scan(&p.UserID, &p.SessionID, &p.AppID, &p.PushKey, &p.Kind, &p.AppDisplayName, &p.DeviceDisplayName,
				&p.ProfileTag, &p.Lang, &p.Data, &p.CreatedTS); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
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
