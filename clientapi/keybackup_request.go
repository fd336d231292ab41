package clientapi

import (
	"encoding/json"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// The bodies of the key backup endpoints. What auth_data and session_data
// hold is the backup algorithm's business, encrypted or signed by the
// client: the server stores them as they come and checks only that they
// are there (SyTest and clients of the unstable era send opaque strings).

// keyBackupData is the spec's KeyBackupData.
type keyBackupData struct {
	FirstMessageIndex *int64          `json:"first_message_index"`
	ForwardedCount    *int64          `json:"forwarded_count"`
	IsVerified        *bool           `json:"is_verified"`
	SessionData       json.RawMessage `json:"session_data"`
}

func (d keyBackupData) toKey(roomID, sessionID string) (userapi.BackupKey, error) {
	if d.FirstMessageIndex == nil || d.ForwardedCount == nil || d.IsVerified == nil || len(d.SessionData) == 0 || string(d.SessionData) == "null" {
		return userapi.BackupKey{}, mxhttp.BadJSON("a key needs first_message_index, forwarded_count, is_verified and session_data")
	}
	if *d.FirstMessageIndex < 0 || *d.ForwardedCount < 0 {
		return userapi.BackupKey{}, mxhttp.BadJSON("first_message_index and forwarded_count cannot be negative")
	}
	if roomID == "" || sessionID == "" {
		return userapi.BackupKey{}, mxhttp.BadJSON("room and session ids cannot be empty")
	}
	return userapi.BackupKey{RoomID: roomID, SessionID: sessionID, FirstMessageIndex: *d.FirstMessageIndex,
		ForwardedCount: *d.ForwardedCount, IsVerified: *d.IsVerified, SessionData: d.SessionData}, nil
}

// parseBackupKeys reads PUT /room_keys/keys at the granularity the path
// gives: one session's KeyBackupData, a room's {"sessions": …} or all
// rooms' {"rooms": …}.
func parseBackupKeys(body []byte, roomID, sessionID string) ([]userapi.BackupKey, error) {
	if sessionID != "" {
		var d keyBackupData
		if err := mxhttp.Unmarshal(body, &d); err != nil {
			return nil, err
		}
		k, err := d.toKey(roomID, sessionID)
		if err != nil {
			return nil, err
		}
		return []userapi.BackupKey{k}, nil
	}
	type roomKeys struct {
		Sessions map[string]keyBackupData `json:"sessions"`
	}
	rooms := map[string]roomKeys{}
	if roomID != "" {
		var room roomKeys
		if err := mxhttp.Unmarshal(body, &room); err != nil {
			return nil, err
		}
		if room.Sessions == nil {
			return nil, mxhttp.BadJSON("sessions is required")
		}
		rooms[roomID] = room
	} else {
		var all struct {
			Rooms map[string]roomKeys `json:"rooms"`
		}
		if err := mxhttp.Unmarshal(body, &all); err != nil {
			return nil, err
		}
		if all.Rooms == nil {
			return nil, mxhttp.BadJSON("rooms is required")
		}
		rooms = all.Rooms
	}
	var keys []userapi.BackupKey
	for room, r := range rooms {
		for session, d := range r.Sessions {
			k, err := d.toKey(room, session)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// backupVersionBody is the body of POST /room_keys/version and PUT
// /room_keys/version/{version}.
type backupVersionBody struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	// Version, only in an update, must be the path's; it may come as a
	// string (the spec) or a number (older clients).
	Version json.RawMessage `json:"version"`
}

// parseBackupVersion reads a version body; pathVersion is the version an
// update names in its path ("" for a new version).
func parseBackupVersion(body []byte, pathVersion string) (*backupVersionBody, error) {
	var b backupVersionBody
	if err := mxhttp.Unmarshal(body, &b); err != nil {
		return nil, err
	}
	if b.Algorithm == "" || len(b.AuthData) == 0 || string(b.AuthData) == "null" {
		return nil, mxhttp.BadJSON("algorithm and auth_data are required")
	}
	if pathVersion != "" && len(b.Version) > 0 && string(b.Version) != "null" {
		var given string
		if err := json.Unmarshal(b.Version, &given); err != nil {
			var n json.Number
			if err := json.Unmarshal(b.Version, &n); err != nil {
				return nil, mxhttp.BadJSON("version must be a string")
			}
			given = n.String()
		}
		if given != pathVersion {
			return nil, mxhttp.InvalidParam("the version in the body differs from the path")
		}
	}
	return &b, nil
}
