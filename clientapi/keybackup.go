package clientapi

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

func fromKey(k userapi.BackupKey) map[string]any {
	return map[string]any{"first_message_index": k.FirstMessageIndex, "forwarded_count": k.ForwardedCount,
		"is_verified": k.IsVerified, "session_data": k.SessionData}
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
	case errors.Is(err, userapi.ErrBackupAlgorithm):
		return mxhttp.InvalidParam("Algorithm does not match")
	case errors.Is(err, userapi.ErrNotFound):
		return mxhttp.NotFound("Unknown backup version")
	}
	return keyError(err)
}

// createBackupVersion is POST /room_keys/version.
func (s *Server) createBackupVersion(r *http.Request, dev *userapi.Device) (any, error) {
	raw, err := mxhttp.ReadBody(r, mxhttp.DefaultMaxBody)
	if err != nil {
		return nil, err
	}
	body, err := parseBackupVersion(raw, "")
	if err != nil {
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
	version := mux.Vars(r)["version"]
	raw, err := mxhttp.ReadBody(r, mxhttp.DefaultMaxBody)
	if err != nil {
		return nil, err
	}
	body, err := parseBackupVersion(raw, version)
	if err != nil {
		return nil, err
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
	raw, err := mxhttp.ReadBody(r, maxKeysBody)
	if err != nil {
		return nil, err
	}
	keys, err := parseBackupKeys(raw, roomID, sessionID)
	if err != nil {
		return nil, err
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
