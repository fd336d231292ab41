package storage

import (
	"context"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// deviceIDsChunk bounds the parameters of one query (SQLite allows a few
// thousand per statement on older builds).
const deviceIDsChunk = 500

// DeviceIDsOf returns the ids of the devices of each of users that has
// any. The sync API reads it to address to-device messages to devices
// that exist (a message to one that does not would wait forever, and
// would reach a device that logs in later with the same id).
func (s *Store) DeviceIDsOf(ctx context.Context, users []string) (map[string][]string, error) {
	out := make(map[string][]string, len(users))
	for start := 0; start < len(users); start += deviceIDsChunk {
		chunk := users[start:min(start+deviceIDsChunk, len(users))]
		args := make([]any, len(chunk))
		for i, u := range chunk {
			args[i] = u
		}
		if err := s.readDeviceIDs(ctx, out, `SELECT user_id, device_id FROM devices WHERE user_id IN (`+sqlutil.InList(1, len(chunk))+`)`, args); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) readDeviceIDs(ctx context.Context, into map[string][]string, q string, args []any) error {
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var user, device string
		if err := rows.Scan(&user, &device); err != nil {
			return err
		}
		into[user] = append(into[user], device)
	}
	return rows.Err()
}
