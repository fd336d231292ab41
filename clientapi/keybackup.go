package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

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
	return userapi.BackupKey{RoomID: roomID, SessionID: sessionID, FirstMessageIndex: *d.FirstMessageIndex,
		ForwardedCount: *d.ForwardedCount, IsVerified: *d.IsVerified, SessionData: d.SessionData}, nil
}

func fromKey(k userapi.BackupKey) map[string]any {
	return map[string]any{"first_message_index": k.FirstMessageIndex, "forwarded_count": k.ForwardedCount,
		"is_verified": k.IsVerified, "session_data": k.SessionData}
}

type backupVersionBody struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	// Version may come as a string (the spec) or a number.
	Version json.RawMessage `json:"version"`
}

// check wants an algorithm and auth_data; what auth_data holds is the
// algorithm's business (a JSON object for the spec's one).
func (b backupVersionBody) check() error {
	if b.Algorithm == "" || len(b.AuthData) == 0 || string(b.AuthData) == "null" {
		return mxhttp.BadJSON("algorithm and auth_data are required")
	}
	return nil
}

// backupError maps the userapi's errors; a write to an old version is
// 403 M_WRONG_ROOM_KEYS_VERSION with the current version.
func (s *Server) backupError(r *http.Request, dev *userapi.Device, err error) error {
	switch {
	case errors.Is(err, userapi.ErrWrongBackupVersion):
		current := ""
		if v, err := s.users.BackupVersion(r.Context(), dev.UserID, ""); err == nil {
			current = v.Version
		}
		return &mxhttp.Error{Status: http.StatusForbidden, Code: "M_WRONG_ROOM_KEYS_VERSION", Msg: "Wrong backup version",
			Extra: map[string]any{"current_version": current}}
	case errors.Is(err, userapi.ErrNotFound):
		return mxhttp.NotFound("Unknown backup version")
	}
	return keyError(err)
}

// createBackupVersion is POST /room_keys/version.
func (s *Server) createBackupVersion(r *http.Request, dev *userapi.Device) (any, error) {
	var body backupVersionBody
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	if err := body.check(); err != nil {
		return nil, err
	}
	v, err := s.users.CreateBackupVersion(r.Context(), dev.UserID, body.Algorithm, body.AuthData)
	if err != nil {
		return nil, err
	}
	return map[string]string{"version": v}, nil
}

// getBackupVersion is GET /room_keys/version[/{version}].
func (s *Server) getBackupVersion(r *http.Request, dev *userapi.Device) (any, error) {
	v, err := s.users.BackupVersion(r.Context(), dev.UserID, mux.Vars(r)["version"])
	if err != nil {
		return nil, s.backupError(r, dev, err)
	}
	return map[string]any{"version": v.Version, "algorithm": v.Algorithm, "auth_data": v.AuthData, "count": v.Count, "etag": v.Etag}, nil
}

// updateBackupVersion is PUT /room_keys/version/{version}.
func (s *Server) updateBackupVersion(r *http.Request, dev *userapi.Device) (any, error) {
	var body backupVersionBody
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	if err := body.check(); err != nil {
		return nil, err
	}
	version := mux.Vars(r)["version"]
	if given := strings.Trim(string(body.Version), `"`); len(body.Version) > 0 && given != version {
		return nil, mxhttp.InvalidParam("the version in the body differs from the path")
	}
	if err := s.users.UpdateBackupVersion(r.Context(), dev.UserID, version, body.Algorithm, body.AuthData); err != nil {
		return nil, s.backupError(r, dev, err)
	}
	return struct{}{}, nil
}

// deleteBackupVersion is DELETE /room_keys/version/{version}.
func (s *Server) deleteBackupVersion(r *http.Request, dev *userapi.Device) (any, error) {
	if err := s.users.DeleteBackupVersion(r.Context(), dev.UserID, mux.Vars(r)["version"]); err != nil {
		return nil, s.backupError(r, dev, err)
	}
	return struct{}{}, nil
}

// putBackupKeys is PUT /room_keys/keys[/{roomId}[/{sessionId}]]?version=.
func (s *Server) putBackupKeys(r *http.Request, dev *userapi.Device) (any, error) {
	v := mux.Vars(r)
	roomID, sessionID := v["roomId"], v["sessionId"]
	version := r.URL.Query().Get("version")
	if version == "" {
		return nil, mxhttp.MissingParam("version is required")
	}
	var keys []userapi.BackupKey
	switch {
	case sessionID != "":
		var d keyBackupData
		if err := mxhttp.DecodeJSON(r, maxKeysBody, &d); err != nil {
			return nil, err
		}
		k, err := d.toKey(roomID, sessionID)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	case roomID != "":
		var body struct {
			Sessions map[string]keyBackupData `json:"sessions"`
		}
		if err := mxhttp.DecodeJSON(r, maxKeysBody, &body); err != nil {
			return nil, err
		}
		for id, d := range body.Sessions {
			k, err := d.toKey(roomID, id)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
	default:
		var body struct {
			Rooms map[string]struct {
				Sessions map[string]keyBackupData `json:"sessions"`
			} `json:"rooms"`
		}
		if err := mxhttp.DecodeJSON(r, maxKeysBody, &body); err != nil {
			return nil, err
		}
		for room, sessions := range body.Rooms {
			for id, d := range sessions.Sessions {
				k, err := d.toKey(room, id)
				if err != nil {
					return nil, err
				}
				keys = append(keys, k)
			}
		}
	}
	count, etag, err := s.users.PutBackupKeys(r.Context(), dev.UserID, version, keys)
	if err != nil {
		return nil, s.backupError(r, dev, err)
	}
	return map[string]any{"count": count, "etag": etag}, nil
}

// getBackupKeys is GET /room_keys/keys[/{roomId}[/{sessionId}]]?version=.
func (s *Server) getBackupKeys(r *http.Request, dev *userapi.Device) (any, error) {
	v := mux.Vars(r)
	roomID, sessionID := v["roomId"], v["sessionId"]
	version := r.URL.Query().Get("version")
	if version == "" {
		return nil, mxhttp.MissingParam("version is required")
	}
	keys, err := s.users.BackupKeys(r.Context(), dev.UserID, version, roomID, sessionID)
	if err != nil {
		return nil, s.backupError(r, dev, err)
	}
	switch {
	case sessionID != "":
		if len(keys) == 0 {
			return nil, mxhttp.NotFound("No key for this session")
		}
		return fromKey(keys[0]), nil
	case roomID != "":
		sessions := map[string]any{}
		for _, k := range keys {
			sessions[k.SessionID] = fromKey(k)
		}
		return map[string]any{"sessions": sessions}, nil
	}
	rooms := map[string]map[string]map[string]any{}
	for _, k := range keys {
		if rooms[k.RoomID] == nil {
			rooms[k.RoomID] = map[string]map[string]any{"sessions": {}}
		}
		rooms[k.RoomID]["sessions"][k.SessionID] = fromKey(k)
	}
	return map[string]any{"rooms": rooms}, nil
}

// deleteBackupKeys is DELETE /room_keys/keys[/{roomId}[/{sessionId}]]?version=.
func (s *Server) deleteBackupKeys(r *http.Request, dev *userapi.Device) (any, error) {
	v := mux.Vars(r)
	version := r.URL.Query().Get("version")
	if version == "" {
		return nil, mxhttp.MissingParam("version is required")
	}
	count, etag, err := s.users.DeleteBackupKeys(r.Context(), dev.UserID, version, v["roomId"], v["sessionId"])
	if err != nil {
		return nil, s.backupError(r, dev, err)
	}
	return map[string]any{"count": count, "etag": etag}, nil
}
