package storage

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// The cache of other servers' users' device lists (docs/decisions/0012).
// Every change to it records a key change of the user in the same
// transaction, so the local users who share a room with them see the user
// in /sync's device_lists.changed, at a position in the one key change
// stream.

// RemoteDevice is a cached device of another server's user.
type RemoteDevice struct {
	DeviceID    string
	DisplayName *string
	// Keys is the device_keys object as its server sent it, nil if none.
	Keys []byte
}

// RemoteDeviceList is a snapshot of a user's devices and cross-signing
// keys, as /user/devices returns it.
type RemoteDeviceList struct {
	UserID   string
	StreamID int64
	// RoomPos is the roomserver's stream position when the snapshot was
	// asked for.
	RoomPos int64
	Devices []RemoteDevice
	// CrossSigningKeys are the master and self_signing keys by type.
	CrossSigningKeys map[string][]byte
}

// RemoteListHead says that a user's list is tracked, and from when.
type RemoteListHead struct {
	StreamID int64
	RoomPos  int64
}

// RemoteListHeads returns the heads of the tracked lists among users.
func (s *Store) RemoteListHeads(ctx context.Context, users []string) (map[string]RemoteListHead, error) {
	out := map[string]RemoteListHead{}
	for start := 0; start < len(users); start += queryChunk {
		chunk := users[start:min(start+queryChunk, len(users))]
		rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id, stream_id, room_pos FROM remote_device_lists
			WHERE user_id IN (`+sqlutil.InList(1, len(chunk))+`)`, anys(chunk)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var u string
			var h RemoteListHead
			if err := rows.Scan(&u, &h.StreamID, &h.RoomPos); err != nil {
				rows.Close()
				return nil, err
			}
			out[u] = h
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReplaceRemoteDeviceList stores a snapshot in place of what is cached,
// unless it is older than what we know: than the cached list (a slow
// fetch must not undo an update applied meanwhile) or than an update
// that came while the list was not cached. It returns the key change
// position, 0 when nothing was stored.
func (s *Store) ReplaceRemoteDeviceList(ctx context.Context, l RemoteDeviceList) (int64, error) {
	var pos int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		pos = 0
		var newest int64
		err := tx.QueryRow(`SELECT COALESCE(MAX(stream_id), 0) FROM (SELECT stream_id FROM remote_device_lists WHERE user_id = $1
			UNION ALL SELECT stream_id FROM remote_device_list_seen WHERE user_id = $1) known`, l.UserID).Scan(&newest)
		if err != nil {
			return err
		}
		if newest > l.StreamID {
			return nil
		}
		// A snapshot at the cached list's own stream id holds nothing
		// new (a query's fetch and a background one racing): it only
		// vouches for the list up to its room position. Storing it again
		// would tell clients of a change that did not happen.
		res, err := tx.Exec(`UPDATE remote_device_lists SET room_pos = CASE WHEN room_pos < $1 THEN $1 ELSE room_pos END
			WHERE user_id = $2 AND stream_id = $3`, l.RoomPos, l.UserID, l.StreamID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		if err := deleteRemoteList(tx, l.UserID); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO remote_device_lists (user_id, stream_id, room_pos, updated_ts) VALUES ($1, $2, $3, $4)`,
			l.UserID, l.StreamID, l.RoomPos, time.Now().UnixMilli()); err != nil {
			return err
		}
		for _, d := range l.Devices {
			if err := putRemoteDevice(tx, l.UserID, d); err != nil {
				return err
			}
		}
		for kind, key := range l.CrossSigningKeys {
			if _, err := tx.Exec(`INSERT INTO remote_cross_signing_keys (user_id, key_type, key_json) VALUES ($1, $2, $3)`,
				l.UserID, kind, string(key)); err != nil {
				return err
			}
		}
		pos, err = s.noteKeyChange(tx, l.UserID, "")
		return err
	})
	return pos, err
}

// RemoteDeviceUpdate is one m.device_list_update.
type RemoteDeviceUpdate struct {
	UserID   string
	StreamID int64
	PrevIDs  []int64
	Deleted  bool
	Device   RemoteDevice
}

// UpdateOutcome is what became of an m.device_list_update.
type UpdateOutcome int

const (
	// UpdateApplied: the update followed what the cache held and is in.
	UpdateApplied UpdateOutcome = iota
	// UpdateStale: the cache already holds this update or a later one.
	UpdateStale
	// UpdateUntracked: the user's list is not cached; only the update's
	// stream id was kept (a snapshot must be at least as new).
	UpdateUntracked
	// UpdateGap: the update refers to ones the cache never saw; the
	// cached list was dropped and needs a resync.
	UpdateGap
)

// ApplyRemoteDeviceUpdate applies an update when the cache holds
// everything it refers to (every prev_id at or before the cached stream
// id: the cache is built from a snapshot and then only from updates that
// followed on). A gap drops the cached list. An applied update records a
// key change, whose position is returned; an untracked one or a gap does
// not: the caller fetches the list whole and the snapshot records it (or
// NoteRemoteKeyChange, when the list cannot be fetched), so that clients
// hear of one change once, and when the cache can answer them.
func (s *Store) ApplyRemoteDeviceUpdate(ctx context.Context, u RemoteDeviceUpdate) (UpdateOutcome, int64, error) {
	var (
		outcome UpdateOutcome
		pos     int64
	)
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		pos = 0
		var stored int64
		err := tx.QueryRow(`SELECT stream_id FROM remote_device_lists WHERE user_id = $1`, u.UserID).Scan(&stored)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			outcome = UpdateUntracked
			return noteSeen(tx, u.UserID, u.StreamID)
		case err != nil:
			return err
		case u.StreamID <= stored:
			outcome = UpdateStale
			return nil
		case !follows(u.PrevIDs, stored):
			outcome = UpdateGap
			if err := deleteRemoteList(tx, u.UserID); err != nil {
				return err
			}
			return noteSeen(tx, u.UserID, u.StreamID)
		default:
			outcome = UpdateApplied
			if _, err := tx.Exec(`UPDATE remote_device_lists SET stream_id = $1, updated_ts = $2 WHERE user_id = $3`,
				u.StreamID, time.Now().UnixMilli(), u.UserID); err != nil {
				return err
			}
			if _, err := tx.Exec(`DELETE FROM remote_device_keys WHERE user_id = $1 AND device_id = $2`, u.UserID, u.Device.DeviceID); err != nil {
				return err
			}
			if !u.Deleted {
				if err := putRemoteDevice(tx, u.UserID, u.Device); err != nil {
					return err
				}
			}
		}
		pos, err = s.noteKeyChange(tx, u.UserID, u.Device.DeviceID)
		return err
	})
	return outcome, pos, err
}

// follows tells whether an update with these prev_ids continues a list
// that has seen everything up to stored. An update that names no
// predecessor starts a sequence over, which a cached list cannot follow.
func follows(prevIDs []int64, stored int64) bool {
	if len(prevIDs) == 0 {
		return false
	}
	for _, p := range prevIDs {
		if p > stored {
			return false
		}
	}
	return true
}

// PutRemoteCrossSigningKeys replaces the cached cross-signing keys given
// (master, self_signing) of a tracked user and records a key change
// either way; it returns the position.
func (s *Store) PutRemoteCrossSigningKeys(ctx context.Context, userID string, keys map[string][]byte) (int64, error) {
	var pos int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM remote_device_lists WHERE user_id = $1`, userID).Scan(&n); err != nil {
			return err
		}
		for kind, key := range keys {
			if n == 0 {
				break
			}
			if _, err := tx.Exec(`INSERT INTO remote_cross_signing_keys (user_id, key_type, key_json) VALUES ($1, $2, $3)
				ON CONFLICT (user_id, key_type) DO UPDATE SET key_json = excluded.key_json`, userID, kind, string(key)); err != nil {
				return err
			}
		}
		var err error
		pos, err = s.noteKeyChange(tx, userID, "")
		return err
	})
	return pos, err
}

// NoteRemoteKeyChange records a key change of a remote user whose list
// changed but could not be fetched: clients ask again, and their query
// goes to the user's server. It returns the position.
func (s *Store) NoteRemoteKeyChange(ctx context.Context, userID string) (int64, error) {
	var pos int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		var err error
		pos, err = s.noteKeyChange(tx, userID, "")
		return err
	})
	return pos, err
}

// ForgetRemoteDeviceList drops a user's cached list (no local user shares
// a room with them any more, so their server stops telling us of
// changes).
func (s *Store) ForgetRemoteDeviceList(ctx context.Context, userID string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error { return deleteRemoteList(tx, userID) })
}

// RemoteKeysForQuery reads the cached keys of users as /keys/query shows
// them, with the signatures local users uploaded for them; users without
// a cached list are left out.
func (s *Store) RemoteKeysForQuery(ctx context.Context, users []string) (*QueriedKeys, error) {
	out := &QueriedKeys{DeviceKeys: map[string]map[string][]byte{}, DeviceNames: map[string]map[string]string{},
		CrossSigningKeys: map[string]map[string][]byte{}, Signatures: map[string]map[string][]KeySignature{}}
	for start := 0; start < len(users); start += queryChunk {
		chunk := users[start:min(start+queryChunk, len(users))]
		args := anys(chunk)
		in := sqlutil.InList(1, len(chunk))
		if err := s.eachRow(ctx, `SELECT user_id, device_id, key_json FROM remote_device_keys WHERE user_id IN (`+in+`) AND key_json IS NOT NULL`, args,
			func(user, device, key string) { put(out.DeviceKeys, user, device, []byte(key)) }); err != nil {
			return nil, err
		}
		if err := s.eachRow(ctx, `SELECT user_id, device_id, display_name FROM remote_device_keys WHERE user_id IN (`+in+`) AND display_name IS NOT NULL`, args,
			func(user, device, name string) { put(out.DeviceNames, user, device, name) }); err != nil {
			return nil, err
		}
		if err := s.eachRow(ctx, `SELECT user_id, key_type, key_json FROM remote_cross_signing_keys WHERE user_id IN (`+in+`)`, args,
			func(user, kind, key string) { put(out.CrossSigningKeys, user, kind, []byte(key)) }); err != nil {
			return nil, err
		}
		if err := s.signaturesOf(ctx, in, args, out.Signatures); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SignaturesFor returns the signatures uploaded here for the keys of the
// users, by user and signed key id.
func (s *Store) SignaturesFor(ctx context.Context, users []string) (map[string]map[string][]KeySignature, error) {
	out := map[string]map[string][]KeySignature{}
	for start := 0; start < len(users); start += queryChunk {
		chunk := users[start:min(start+queryChunk, len(users))]
		if err := s.signaturesOf(ctx, sqlutil.InList(1, len(chunk)), anys(chunk), out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// noteSeen records that an update with streamID came for a user whose
// list is not cached, so that only a snapshot at least as new is taken.
func noteSeen(tx *sql.Tx, userID string, streamID int64) error {
	_, err := tx.Exec(`INSERT INTO remote_device_list_seen (user_id, stream_id) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET stream_id = CASE WHEN excluded.stream_id > remote_device_list_seen.stream_id
		THEN excluded.stream_id ELSE remote_device_list_seen.stream_id END`, userID, streamID)
	return err
}

func deleteRemoteList(tx *sql.Tx, userID string) error {
	for _, table := range []string{"remote_device_lists", "remote_device_keys", "remote_cross_signing_keys", "remote_device_list_seen"} {
		if _, err := tx.Exec(`DELETE FROM `+table+` WHERE user_id = $1`, userID); err != nil {
			return err
		}
	}
	return nil
}

func putRemoteDevice(tx *sql.Tx, userID string, d RemoteDevice) error {
	var keys any
	if d.Keys != nil {
		keys = string(d.Keys)
	}
	_, err := tx.Exec(`INSERT INTO remote_device_keys (user_id, device_id, display_name, key_json) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, device_id) DO UPDATE SET display_name = excluded.display_name, key_json = excluded.key_json`,
		userID, d.DeviceID, nullString(d.DisplayName), keys)
	return err
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
