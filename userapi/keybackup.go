package userapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/userapi/storage"
)

// Server-side key backup: the client keeps its Megolm session keys here,
// encrypted to a key the server never sees. Versions are numbered per
// user; keys go only into the newest version.

var (
	// ErrWrongBackupVersion is a write to a backup version that is not
	// the newest.
	ErrWrongBackupVersion = errors.New("wrong key backup version")
	// ErrBackupAlgorithm is an update that would change a version's
	// algorithm, which the keys in it were encrypted for.
	ErrBackupAlgorithm = errors.New("the algorithm of a backup version cannot change")
)

// BackupVersionInfo is GET /room_keys/version's answer.
type BackupVersionInfo struct {
	Version   string
	Algorithm string
	AuthData  json.RawMessage
	Count     int
	Etag      string
}

// BackupKey is one backed-up session (the spec's KeyBackupData with where
// it belongs).
type BackupKey struct {
	RoomID, SessionID string
	FirstMessageIndex int64
	ForwardedCount    int64
	IsVerified        bool
	SessionData       json.RawMessage
}

func parseBackupVersion(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("backup version %q: %w", v, ErrNotFound)
	}
	return n, nil
}

func (s *Server) CreateBackupVersion(ctx context.Context, user spec.UserID, algorithm string, authData json.RawMessage) (string, error) {
	v, err := s.store.CreateBackupVersion(ctx, user.String(), algorithm, authData)
	return strconv.FormatInt(v, 10), err
}

// BackupVersion returns a version, or the newest for "".
func (s *Server) BackupVersion(ctx context.Context, user spec.UserID, version string) (*BackupVersionInfo, error) {
	var n int64
	if version != "" {
		var err error
		if n, err = parseBackupVersion(version); err != nil {
			return nil, err
		}
	}
	v, err := s.store.BackupVersion(ctx, user.String(), n)
	if err != nil {
		return nil, userError(err)
	}
	return &BackupVersionInfo{Version: strconv.FormatInt(v.Version, 10), Algorithm: v.Algorithm, AuthData: v.AuthData,
		Count: v.Count, Etag: strconv.FormatInt(v.Etag, 10)}, nil
}

// UpdateBackupVersion replaces auth_data; the algorithm cannot change.
func (s *Server) UpdateBackupVersion(ctx context.Context, user spec.UserID, version, algorithm string, authData json.RawMessage) error {
	v, err := s.BackupVersion(ctx, user, version)
	if err != nil {
		return err
	}
	if algorithm != v.Algorithm {
		return ErrBackupAlgorithm
	}
	n, _ := parseBackupVersion(version)
	return userError(s.store.UpdateBackupAuthData(ctx, user.String(), n, authData))
}

func (s *Server) DeleteBackupVersion(ctx context.Context, user spec.UserID, version string) error {
	n, err := parseBackupVersion(version)
	if err != nil {
		return err
	}
	return userError(s.store.DeleteBackupVersion(ctx, user.String(), n))
}

// betterBackupKey is the spec's rule for two copies of a session: a
// verified one wins, then the lower first_message_index, then the lower
// forwarded_count. An equal copy replaces nothing.
func betterBackupKey(old, new storage.BackupKey) bool {
	if old.IsVerified != new.IsVerified {
		return new.IsVerified
	}
	if old.FirstMessageIndex != new.FirstMessageIndex {
		return new.FirstMessageIndex < old.FirstMessageIndex
	}
	return new.ForwardedCount < old.ForwardedCount
}

// PutBackupKeys stores sessions into the newest version: ErrNotFound
// when the user has no backup, ErrWrongBackupVersion when version is not
// the newest (also when it is no version at all).
func (s *Server) PutBackupKeys(ctx context.Context, user spec.UserID, version string, keys []BackupKey) (int, string, error) {
	n, err := parseBackupVersion(version)
	if err != nil {
		n = 0 // matches no version
	}
	rows := make([]storage.BackupKey, len(keys))
	for i, k := range keys {
		rows[i] = storage.BackupKey{RoomID: k.RoomID, SessionID: k.SessionID, FirstMessageIndex: k.FirstMessageIndex,
			ForwardedCount: k.ForwardedCount, IsVerified: k.IsVerified, SessionData: k.SessionData}
	}
	count, etag, err := s.store.PutBackupKeys(ctx, user.String(), n, rows, betterBackupKey)
	if errors.Is(err, storage.ErrWrongVersion) {
		return 0, "", ErrWrongBackupVersion
	}
	if err != nil {
		return 0, "", userError(err)
	}
	return count, strconv.FormatInt(etag, 10), nil
}

// BackupKeys reads sessions of a live version: all, a room's, or one.
func (s *Server) BackupKeys(ctx context.Context, user spec.UserID, version, roomID, sessionID string) ([]BackupKey, error) {
	if _, err := s.BackupVersion(ctx, user, version); err != nil {
		return nil, err
	}
	n, _ := parseBackupVersion(version)
	rows, err := s.store.BackupKeys(ctx, user.String(), n, roomID, sessionID)
	if err != nil {
		return nil, err
	}
	out := make([]BackupKey, len(rows))
	for i, k := range rows {
		out[i] = BackupKey{RoomID: k.RoomID, SessionID: k.SessionID, FirstMessageIndex: k.FirstMessageIndex,
			ForwardedCount: k.ForwardedCount, IsVerified: k.IsVerified, SessionData: k.SessionData}
	}
	return out, nil
}

// DeleteBackupKeys deletes sessions of a live version.
func (s *Server) DeleteBackupKeys(ctx context.Context, user spec.UserID, version, roomID, sessionID string) (int, string, error) {
	n, err := parseBackupVersion(version)
	if err != nil {
		return 0, "", err
	}
	count, etag, err := s.store.DeleteBackupKeys(ctx, user.String(), n, roomID, sessionID)
	if err != nil {
		return 0, "", userError(err)
	}
	return count, strconv.FormatInt(etag, 10), nil
}
