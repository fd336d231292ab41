package userapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/userapi/storage"
)

// End-to-end encryption keys (the server side): device keys, one-time and
// fallback keys, and the key change stream /sync's device_lists follows.

// Limits on one request.
const (
	maxKeysPerUpload  = 200
	maxKeyJSON        = 16 << 10
	maxQueriedUsers   = 1000
	maxClaimedDevices = 1000
)

// Errors of key uploads the client can fix; they wrap the reason.
var (
	ErrBadKeys      = errors.New("invalid keys")
	ErrBadSignature = errors.New("invalid signature")
)

// KeyUploadRequest is POST /keys/upload for one device.
type KeyUploadRequest struct {
	User         spec.UserID
	DeviceID     string
	DeviceKeys   json.RawMessage
	OneTimeKeys  map[string]json.RawMessage
	FallbackKeys map[string]json.RawMessage
}

// KeyChanged is published on bus.KeyChangesSubject after a user's device
// list or keys changed.
type KeyChanged struct {
	UserID string `json:"user_id"`
	Pos    int64  `json:"pos"`
}

// UploadKeys checks and stores a device's keys and returns its unclaimed
// one-time key counts.
func (s *Server) UploadKeys(ctx context.Context, req KeyUploadRequest) (map[string]int, error) {
	up, err := s.checkKeyUpload(req)
	if err != nil {
		return nil, err
	}
	return s.storeKeys(ctx, req.User, up)
}

// checkKeyUpload checks an upload's keys without storing them.
func (s *Server) checkKeyUpload(req KeyUploadRequest) (storage.KeyUpload, error) {
	up := storage.KeyUpload{UserID: req.User.String(), DeviceID: req.DeviceID,
		OneTimeKeys: map[string][]byte{}, FallbackKeys: map[string][]byte{}}
	if len(req.OneTimeKeys)+len(req.FallbackKeys) > maxKeysPerUpload {
		return up, fmt.Errorf("%w: at most %d keys per upload", ErrBadKeys, maxKeysPerUpload)
	}
	if len(req.DeviceKeys) > 0 && string(req.DeviceKeys) != "null" {
		canonical, err := s.checkDeviceKeys(req)
		if err != nil {
			return up, err
		}
		up.DeviceKeys = canonical
	}
	for kind, keys := range map[string]map[string]json.RawMessage{"one_time_keys": req.OneTimeKeys, "fallback_keys": req.FallbackKeys} {
		for id, key := range keys {
			if !strings.Contains(id, ":") || len(id) > 255 || len(key) > maxKeyJSON || (!gjson.ValidBytes(key)) {
				return up, fmt.Errorf("%w: %s has an invalid key %q", ErrBadKeys, kind, id)
			}
			if r := gjson.ParseBytes(key); r.Type != gjson.String && !r.IsObject() {
				return up, fmt.Errorf("%w: key %q must be a string or an object", ErrBadKeys, id)
			}
			if kind == "one_time_keys" {
				up.OneTimeKeys[id] = key
			} else {
				up.FallbackKeys[id] = key
			}
		}
	}
	return up, nil
}

// storeKeys stores checked keys, tells the user's contacts when the
// device keys are new and returns the one-time key counts.
func (s *Server) storeKeys(ctx context.Context, user spec.UserID, up storage.KeyUpload) (map[string]int, error) {
	pos, err := s.store.UploadKeys(ctx, up)
	if err != nil {
		return nil, err
	}
	if pos > 0 {
		s.publishKeyChange(user.String(), pos)
	}
	return s.store.OneTimeKeyCounts(ctx, up.UserID, up.DeviceID)
}

// checkDeviceKeys checks a device_keys object: a JSON object that names
// this user and device and lists its algorithms and keys. The server does
// not verify the device's signature: the spec defines no such check,
// clients verify every key they use, and other servers do not either
// (decision 0007). It returns the canonical JSON.
func (s *Server) checkDeviceKeys(req KeyUploadRequest) ([]byte, error) {
	if len(req.DeviceKeys) > maxKeyJSON {
		return nil, fmt.Errorf("%w: device_keys too large", ErrBadKeys)
	}
	canonical, err := gomatrixserverlib.CanonicalJSON(req.DeviceKeys)
	if err != nil || canonical[0] != '{' {
		return nil, fmt.Errorf("%w: device_keys is not a JSON object", ErrBadKeys)
	}
	dk := gjson.ParseBytes(canonical)
	if dk.Get("user_id").String() != req.User.String() || dk.Get("device_id").String() != req.DeviceID {
		return nil, fmt.Errorf("%w: device_keys must name this user and device", ErrBadKeys)
	}
	if !dk.Get("algorithms").IsArray() || !dk.Get("keys").IsObject() {
		return nil, fmt.Errorf("%w: device_keys needs algorithms and keys", ErrBadKeys)
	}
	return canonical, nil
}

// OneTimeKeyCounts is what /sync reports as device_one_time_keys_count.
func (s *Server) OneTimeKeyCounts(ctx context.Context, user spec.UserID, deviceID string) (map[string]int, error) {
	return s.store.OneTimeKeyCounts(ctx, user.String(), deviceID)
}

// QueryKeysResponse is POST /keys/query's answer without failures (every
// user is local or unknown).
type QueryKeysResponse struct {
	DeviceKeys      map[string]map[string]json.RawMessage
	MasterKeys      map[string]json.RawMessage
	SelfSigningKeys map[string]json.RawMessage
	UserSigningKeys map[string]json.RawMessage
}

// QueryKeys returns the device keys (all devices for an empty list) and
// cross-signing keys of the users, with the signatures uploaded for them.
// The user-signing key is only shown to its owner.
func (s *Server) QueryKeys(ctx context.Context, requester spec.UserID, users map[string][]string) (*QueryKeysResponse, error) {
	if len(users) > maxQueriedUsers {
		return nil, fmt.Errorf("%w: at most %d users per query", ErrBadKeys, maxQueriedUsers)
	}
	res := &QueryKeysResponse{DeviceKeys: map[string]map[string]json.RawMessage{}, MasterKeys: map[string]json.RawMessage{},
		SelfSigningKeys: map[string]json.RawMessage{}, UserSigningKeys: map[string]json.RawMessage{}}
	ids := make([]string, 0, len(users))
	for user := range users {
		ids = append(ids, user)
	}
	stored, err := s.store.KeysForQuery(ctx, ids)
	if err != nil {
		return nil, err
	}
	addQueried(res, requester, users, stored)
	return res, nil
}

// addQueried adds to res what requester may see of the stored keys of
// users: the devices asked for (all for an empty list) with the
// signatures requester may see and the display name in unsigned, and the
// cross-signing keys (the user-signing key only to its owner).
func addQueried(res *QueryKeysResponse, requester spec.UserID, users map[string][]string, stored *storage.QueriedKeys) {
	for user, devices := range users {
		wanted := map[string]bool{}
		for _, d := range devices {
			wanted[d] = true
		}
		sigs := stored.Signatures[user]
		byDevice := map[string]json.RawMessage{}
		for d, k := range stored.DeviceKeys[user] {
			if len(wanted) > 0 && !wanted[d] {
				continue
			}
			k = withSignatures(k, visibleTo(requester.String(), user, sigs[d]))
			if !gjson.GetBytes(k, "unsigned").Exists() {
				k = setJSON(k, "unsigned", map[string]any{})
			}
			if name, ok := stored.DeviceNames[user][d]; ok {
				k = setJSON(k, "unsigned.device_display_name", name)
			}
			byDevice[d] = k
		}
		res.DeviceKeys[user] = byDevice
		for kind, key := range stored.CrossSigningKeys[user] {
			pub := gjson.GetBytes(key, "keys.@values.0").String()
			key = withSignatures(key, visibleTo(requester.String(), user, sigs[pub]))
			switch kind {
			case "master":
				res.MasterKeys[user] = key
			case "self_signing":
				res.SelfSigningKeys[user] = key
			case "user_signing":
				if user == requester.String() {
					res.UserSigningKeys[user] = key
				}
			}
		}
	}
}

// visibleTo keeps the signatures of owner's key that viewer may see: the
// owner's own, and another user's only by that user (a signature by a
// user-signing key is seen by its signer alone, as the spec's
// cross-signing diagrams show).
func visibleTo(viewer, owner string, sigs []storage.KeySignature) []storage.KeySignature {
	out := sigs[:0:0]
	for _, sig := range sigs {
		if sig.SignerUserID == owner || sig.SignerUserID == viewer {
			out = append(out, sig)
		}
	}
	return out
}

// ClaimKeys hands out one key per requested device (a one-time key, else
// the fallback key); devices without keys are left out.
func (s *Server) ClaimKeys(ctx context.Context, claims map[string]map[string]string) (map[string]map[string]map[string]json.RawMessage, error) {
	n := 0
	for _, devices := range claims {
		n += len(devices)
	}
	if n > maxClaimedDevices {
		return nil, fmt.Errorf("%w: at most %d devices per claim", ErrBadKeys, maxClaimedDevices)
	}
	out := map[string]map[string]map[string]json.RawMessage{}
	for user, devices := range claims {
		for device, algorithm := range devices {
			keyID, key, err := s.store.ClaimKey(ctx, user, device, algorithm)
			if err != nil {
				return nil, err
			}
			if keyID == "" {
				continue
			}
			if out[user] == nil {
				out[user] = map[string]map[string]json.RawMessage{}
			}
			out[user][device] = map[string]json.RawMessage{algorithm + ":" + keyID: key}
		}
	}
	return out, nil
}

// UnusedFallbackKeyTypes is /sync's device_unused_fallback_key_types.
func (s *Server) UnusedFallbackKeyTypes(ctx context.Context, user spec.UserID, deviceID string) ([]string, error) {
	return s.store.UnusedFallbackKeyTypes(ctx, user.String(), deviceID)
}

// KeyChanges lists users whose keys changed in (from, to] as far as
// viewer is told.
func (s *Server) KeyChanges(ctx context.Context, viewer spec.UserID, from, to int64) ([]string, error) {
	return s.store.KeyChangesBetween(ctx, viewer.String(), from, to)
}

func (s *Server) publishKeyChange(user string, pos int64) {
	if s.bus == nil {
		return
	}
	data, _ := json.Marshal(KeyChanged{UserID: user, Pos: pos})
	if err := s.bus.NC.Publish(bus.KeyChangesSubject, data); err != nil {
		slog.Warn("userapi: publish key change", "user", user, "err", err)
	}
}

// dropDeviceKeys removes the keys of deleted devices, so nobody encrypts
// for them any more, and tells the users' contacts.
func (s *Server) dropDeviceKeys(revoked []storage.Revoked) {
	byUser := map[string][]string{}
	for _, r := range revoked {
		if r.DeviceID != "" {
			byUser[r.UserID] = append(byUser[r.UserID], r.DeviceID)
		}
	}
	for user, devices := range byUser {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		pos, err := s.store.DeleteDeviceKeys(ctx, user, devices)
		cancel()
		if err != nil {
			slog.Error("userapi: delete device keys", "user", user, "err", err)
			continue
		}
		s.publishKeyChange(user, pos)
	}
}

// deviceListChanged records and announces a change of one of the user's
// devices (a login, a new name); a failure only delays clients' key
// refresh.
func (s *Server) deviceListChanged(ctx context.Context, user, deviceID string) {
	pos, err := s.store.NoteDeviceChange(ctx, user, deviceID)
	if err != nil {
		slog.Warn("userapi: record device change", "user", user, "err", err)
		return
	}
	s.publishKeyChange(user, pos)
}
