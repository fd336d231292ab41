package userapi

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/userapi/storage"
)

// The cache of other servers' users' device lists (docs/decisions/0012).
// The federation API fills it (snapshots from /user/devices, updates
// from m.device_list_update and m.signing_key_update) and decides when
// it may be trusted; the user API keeps it and records each change in
// the key change stream, so /sync's device_lists.changed names remote
// users the same way as local ones.

// RemoteListHead says that a remote user's list is cached: the stream id
// of the last update applied, and the roomserver's stream position when
// its snapshot was taken.
type RemoteListHead struct {
	StreamID int64
	RoomPos  int64
}

// RemoteDeviceList is a snapshot of a remote user's devices.
type RemoteDeviceList struct {
	UserID   spec.UserID
	StreamID int64
	RoomPos  int64
	Devices  []RemoteDevice
	// MasterKey and SelfSigningKey are nil when the user has none.
	MasterKey, SelfSigningKey json.RawMessage
}

// RemoteDevice is one device of a remote user; Keys is nil when it has
// none.
type RemoteDevice struct {
	DeviceID    string
	DisplayName *string
	Keys        json.RawMessage
}

// RemoteDeviceUpdate is one m.device_list_update, checked.
type RemoteDeviceUpdate struct {
	UserID   spec.UserID
	StreamID int64
	PrevIDs  []int64
	Deleted  bool
	Device   RemoteDevice
}

// UpdateOutcome is what became of an m.device_list_update.
type UpdateOutcome = storage.UpdateOutcome

// The outcomes of ApplyRemoteDeviceUpdate.
const (
	UpdateApplied   = storage.UpdateApplied
	UpdateStale     = storage.UpdateStale
	UpdateUntracked = storage.UpdateUntracked
	UpdateGap       = storage.UpdateGap
)

// RemoteDeviceListHeads returns the heads of the cached lists among users.
func (s *Server) RemoteDeviceListHeads(ctx context.Context, users []string) (map[string]RemoteListHead, error) {
	heads, err := s.store.RemoteListHeads(ctx, users)
	if err != nil {
		return nil, err
	}
	out := make(map[string]RemoteListHead, len(heads))
	for u, h := range heads {
		out[u] = RemoteListHead(h)
	}
	return out, nil
}

// StoreRemoteDeviceList replaces a remote user's cached list with a
// snapshot, unless it is older than an update we hold or saw; it tells
// whether it stored it.
func (s *Server) StoreRemoteDeviceList(ctx context.Context, l RemoteDeviceList) (bool, error) {
	if s.isLocal(l.UserID.Domain()) {
		return false, fmt.Errorf("%w: %s is a local user", ErrBadKeys, l.UserID.String())
	}
	sl := storage.RemoteDeviceList{UserID: l.UserID.String(), StreamID: l.StreamID, RoomPos: l.RoomPos, CrossSigningKeys: map[string][]byte{}}
	for _, d := range l.Devices {
		sl.Devices = append(sl.Devices, storage.RemoteDevice{DeviceID: d.DeviceID, DisplayName: d.DisplayName, Keys: d.Keys})
	}
	if l.MasterKey != nil {
		sl.CrossSigningKeys["master"] = l.MasterKey
	}
	if l.SelfSigningKey != nil {
		sl.CrossSigningKeys["self_signing"] = l.SelfSigningKey
	}
	pos, err := s.store.ReplaceRemoteDeviceList(ctx, sl)
	if err != nil || pos == 0 {
		return false, err
	}
	s.publishKeyChange(l.UserID.String(), pos)
	return true, nil
}

// ApplyRemoteDeviceUpdate applies an update to a remote user's cached
// list if it follows on what the cache holds; see UpdateOutcome. Only an
// applied update records a key change: for a list not cached, or one with
// a gap, the caller fetches the list and the snapshot records it, or calls
// NoteRemoteDeviceListChange when it cannot.
func (s *Server) ApplyRemoteDeviceUpdate(ctx context.Context, u RemoteDeviceUpdate) (UpdateOutcome, error) {
	if s.isLocal(u.UserID.Domain()) {
		return UpdateStale, fmt.Errorf("%w: %s is a local user", ErrBadKeys, u.UserID.String())
	}
	outcome, pos, err := s.store.ApplyRemoteDeviceUpdate(ctx, storage.RemoteDeviceUpdate{
		UserID: u.UserID.String(), StreamID: u.StreamID, PrevIDs: u.PrevIDs, Deleted: u.Deleted,
		Device: storage.RemoteDevice{DeviceID: u.Device.DeviceID, DisplayName: u.Device.DisplayName, Keys: u.Device.Keys},
	})
	if err != nil {
		return outcome, err
	}
	if pos > 0 {
		s.publishKeyChange(u.UserID.String(), pos)
	}
	return outcome, nil
}

// ApplyRemoteSigningKeyUpdate takes a remote user's new master and
// self-signing keys (nil: unchanged) into the cache, if the user's list is
// cached, and records the key change either way.
func (s *Server) ApplyRemoteSigningKeyUpdate(ctx context.Context, user spec.UserID, master, selfSigning json.RawMessage) error {
	if s.isLocal(user.Domain()) {
		return fmt.Errorf("%w: %s is a local user", ErrBadKeys, user.String())
	}
	keys := map[string][]byte{}
	if master != nil {
		keys["master"] = master
	}
	if selfSigning != nil {
		keys["self_signing"] = selfSigning
	}
	pos, err := s.store.PutRemoteCrossSigningKeys(ctx, user.String(), keys)
	if err != nil {
		return err
	}
	s.publishKeyChange(user.String(), pos)
	return nil
}

// NoteRemoteDeviceListChange records a key change of a remote user whose
// list changed but cannot be fetched now: local clients ask again and
// their query goes to the user's server.
func (s *Server) NoteRemoteDeviceListChange(ctx context.Context, user spec.UserID) error {
	if s.isLocal(user.Domain()) {
		return fmt.Errorf("%w: %s is a local user", ErrBadKeys, user.String())
	}
	pos, err := s.store.NoteRemoteKeyChange(ctx, user.String())
	if err != nil {
		return err
	}
	s.publishKeyChange(user.String(), pos)
	return nil
}

// ForgetRemoteDeviceList drops a remote user's cached list.
func (s *Server) ForgetRemoteDeviceList(ctx context.Context, user spec.UserID) error {
	return s.store.ForgetRemoteDeviceList(ctx, user.String())
}

// RemoteQueryKeys is the remote users' part of /keys/query: the cached
// keys of the users of cached (all their devices for an empty list), and
// the keys fetched from their servers, each with the signatures requester
// may see of those uploaded here (a local user's user-signing key signing
// a remote user's master key).
func (s *Server) RemoteQueryKeys(ctx context.Context, requester spec.UserID, cached map[string][]string, fetched *QueryKeysResponse) (*QueryKeysResponse, error) {
	res := &QueryKeysResponse{DeviceKeys: map[string]map[string]json.RawMessage{}, MasterKeys: map[string]json.RawMessage{},
		SelfSigningKeys: map[string]json.RawMessage{}, UserSigningKeys: map[string]json.RawMessage{}}
	if len(cached) > 0 {
		users := make([]string, 0, len(cached))
		for u := range cached {
			users = append(users, u)
		}
		stored, err := s.store.RemoteKeysForQuery(ctx, users)
		if err != nil {
			return nil, err
		}
		addQueried(res, requester, cached, stored)
	}
	if fetched == nil {
		return res, nil
	}
	stored := &storage.QueriedKeys{DeviceKeys: map[string]map[string][]byte{}, DeviceNames: map[string]map[string]string{},
		CrossSigningKeys: map[string]map[string][]byte{}}
	asked := map[string][]string{}
	for user, devices := range fetched.DeviceKeys {
		asked[user] = nil
		for d, k := range devices {
			put(stored.DeviceKeys, user, d, []byte(k))
		}
	}
	for kind, keys := range map[string]map[string]json.RawMessage{"master": fetched.MasterKeys, "self_signing": fetched.SelfSigningKeys} {
		for user, k := range keys {
			asked[user] = nil
			put(stored.CrossSigningKeys, user, kind, []byte(k))
		}
	}
	users := make([]string, 0, len(asked))
	for u := range asked {
		users = append(users, u)
	}
	sigs, err := s.store.SignaturesFor(ctx, users)
	if err != nil {
		return nil, err
	}
	stored.Signatures = sigs
	addQueried(res, requester, asked, stored)
	return res, nil
}

func put[V any](m map[string]map[string]V, outer, inner string, v V) {
	if m[outer] == nil {
		m[outer] = map[string]V{}
	}
	m[outer][inner] = v
}
