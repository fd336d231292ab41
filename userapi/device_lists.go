package userapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/userapi/storage"
)

// What other servers learn of local users' devices (docs/decisions/0012).
// Every change of a device or of cross-signing keys is a row of the key
// change stream; the federation sender reads the stream from its place
// on, sends each local change as an EDU and moves its place. An EDU
// carries the device as it is when the EDU is built: a device changed
// twice is sent twice with the newer state, which receivers take as it
// comes.

// The EDU types other servers hear of key changes by.
const (
	MDeviceListUpdate = "m.device_list_update"
	MSigningKeyUpdate = "m.signing_key_update"
)

// DeviceListOutbox is a batch of key changes for other servers.
type DeviceListOutbox struct {
	// From is the sender's place, To the last change looked at; Ack
	// moves the place from the one to the other.
	From, To int64
	Updates  []DeviceListUpdate
}

// DeviceListUpdate is one EDU about a local user.
type DeviceListUpdate struct {
	UserID spec.UserID
	// Type is MDeviceListUpdate or MSigningKeyUpdate.
	Type    string
	Content json.RawMessage
}

// deviceListUpdateContent is m.device_list_update's content.
type deviceListUpdateContent struct {
	UserID      string `json:"user_id"`
	DeviceID    string `json:"device_id"`
	DisplayName string `json:"device_display_name,omitempty"`
	StreamID    int64  `json:"stream_id"`
	// PrevID is sent empty rather than left out: the spec allows both
	// for the first update, and some servers expect the key.
	PrevID  []int64         `json:"prev_id"`
	Deleted bool            `json:"deleted,omitempty"`
	Keys    json.RawMessage `json:"keys,omitempty"`
}

// signingKeyUpdateContent is m.signing_key_update's content.
type signingKeyUpdateContent struct {
	UserID         string          `json:"user_id"`
	MasterKey      json.RawMessage `json:"master_key,omitempty"`
	SelfSigningKey json.RawMessage `json:"self_signing_key,omitempty"`
}

// PendingDeviceListUpdates returns up to limit key changes after the
// federation sender's place, as EDUs for the changes of local users that
// others may hear of; the rest (other servers' users, changes meant for
// one user) only move the place.
func (s *Server) PendingDeviceListUpdates(ctx context.Context, limit int) (*DeviceListOutbox, error) {
	from, err := s.store.DeviceListOutboxPos(ctx)
	if err != nil {
		return nil, err
	}
	changes, err := s.store.KeyChangesAfter(ctx, from, max(limit, 1))
	if err != nil {
		return nil, err
	}
	out := &DeviceListOutbox{From: from, To: from}
	for _, c := range changes {
		out.To = c.Pos
		user, err := spec.NewUserID(c.UserID, true)
		if err != nil || !s.isLocal(user.Domain()) || c.OnlyFor != "" {
			continue
		}
		u, err := s.updateFor(ctx, *user, c)
		if err != nil {
			return nil, fmt.Errorf("key change %d: %w", c.Pos, err)
		}
		if u != nil {
			out.Updates = append(out.Updates, *u)
		}
	}
	return out, nil
}

// updateFor builds the EDU of one change; nil when there is nothing to
// tell (cross-signing keys that are gone).
func (s *Server) updateFor(ctx context.Context, user spec.UserID, c storage.KeyChange) (*DeviceListUpdate, error) {
	if c.DeviceID == "" {
		master, selfSigning, err := s.publicCrossSigningKeys(ctx, user.String())
		if err != nil || (master == nil && selfSigning == nil) {
			return nil, err
		}
		content, err := json.Marshal(signingKeyUpdateContent{UserID: user.String(), MasterKey: master, SelfSigningKey: selfSigning})
		return &DeviceListUpdate{UserID: user, Type: MSigningKeyUpdate, Content: content}, err
	}
	prev, err := s.store.DeviceStreamID(ctx, user.String(), c.Pos)
	if err != nil {
		return nil, err
	}
	devices, err := s.federatedDevices(ctx, user.String(), c.DeviceID)
	if err != nil {
		return nil, err
	}
	edu := deviceListUpdateContent{UserID: user.String(), DeviceID: c.DeviceID, StreamID: c.Pos, PrevID: []int64{}}
	if prev > 0 {
		edu.PrevID = []int64{prev}
	}
	if d, ok := devices[c.DeviceID]; ok {
		edu.DisplayName, edu.Keys = d.DisplayName, d.Keys
	} else {
		edu.Deleted = true
	}
	content, err := json.Marshal(edu)
	return &DeviceListUpdate{UserID: user, Type: MDeviceListUpdate, Content: content}, err
}

// AckDeviceListUpdates moves the sender's place from from to to, once the
// EDUs up to to are queued. Another process that moved it meanwhile wins;
// EDUs both queued reach receivers twice, and they drop the second copy
// by its stream_id.
func (s *Server) AckDeviceListUpdates(ctx context.Context, from, to int64) error {
	_, err := s.store.AdvanceDeviceListOutbox(ctx, from, to)
	return err
}

// FederationDeviceList is GET /_matrix/federation/v1/user/devices's answer.
type FederationDeviceList struct {
	UserID   string             `json:"user_id"`
	StreamID int64              `json:"stream_id"`
	Devices  []FederationDevice `json:"devices"`
	// The user's master and self-signing keys; the user-signing key is
	// the user's own business.
	MasterKey      json.RawMessage `json:"master_key,omitempty"`
	SelfSigningKey json.RawMessage `json:"self_signing_key,omitempty"`
}

// FederationDevice is one device of a FederationDeviceList.
type FederationDevice struct {
	DeviceID    string          `json:"device_id"`
	Keys        json.RawMessage `json:"keys"`
	DisplayName string          `json:"device_display_name,omitempty"`
}

// FederationDevices is a local user's device list for other servers:
// the devices with keys (only those take part in encryption; the spec
// requires keys), their display names, and the stream id of the newest
// device change, read before the devices so that an update racing the
// read is applied on top rather than missed. ErrNotFound for users
// without an account.
func (s *Server) FederationDevices(ctx context.Context, user spec.UserID) (*FederationDeviceList, error) {
	if !s.isLocal(user.Domain()) {
		return nil, fmt.Errorf("%s is not a local user: %w", user.String(), ErrNotFound)
	}
	if ok, err := s.store.AccountExists(ctx, user.String()); err != nil || !ok {
		return nil, errors.Join(err, ErrNotFound)
	}
	streamID, err := s.store.DeviceStreamID(ctx, user.String(), 0)
	if err != nil {
		return nil, err
	}
	devices, err := s.federatedDevices(ctx, user.String())
	if err != nil {
		return nil, err
	}
	out := &FederationDeviceList{UserID: user.String(), StreamID: streamID, Devices: []FederationDevice{}}
	for _, d := range devices {
		if d.Keys != nil {
			out.Devices = append(out.Devices, FederationDevice{DeviceID: d.DeviceID, Keys: d.Keys, DisplayName: d.DisplayName})
		}
	}
	out.MasterKey, out.SelfSigningKey, err = s.publicCrossSigningKeys(ctx, user.String())
	return out, err
}

// federatedDevice is a device with what others see of it.
type federatedDevice struct {
	DeviceID    string
	DisplayName string
	Keys        json.RawMessage
}

// federatedDevices reads devices of a local user (all for none given)
// with their keys as other servers see them: with the signatures of the
// user's own keys (the self-signing key's), none of other users'.
func (s *Server) federatedDevices(ctx context.Context, user string, devices ...string) (map[string]federatedDevice, error) {
	stored, err := s.store.FederatedDevices(ctx, user, devices...)
	if err != nil {
		return nil, err
	}
	var sigs map[string][]storage.KeySignature
	if len(stored) > 0 {
		all, err := s.store.SignaturesFor(ctx, []string{user})
		if err != nil {
			return nil, err
		}
		sigs = all[user]
	}
	out := make(map[string]federatedDevice, len(stored))
	for id, d := range stored {
		fd := federatedDevice{DeviceID: id}
		if d.DisplayName != nil {
			fd.DisplayName = *d.DisplayName
		}
		if d.Keys != nil {
			fd.Keys = withSignatures(d.Keys, visibleTo("", user, sigs[id]))
		}
		out[id] = fd
	}
	return out, nil
}

// publicCrossSigningKeys are a local user's master and self-signing keys
// with the user's own signatures, nil where the user has none.
func (s *Server) publicCrossSigningKeys(ctx context.Context, user string) (master, selfSigning json.RawMessage, err error) {
	keys, err := s.store.CrossSigningKeys(ctx, user)
	if err != nil || len(keys) == 0 {
		return nil, nil, err
	}
	all, err := s.store.SignaturesFor(ctx, []string{user})
	if err != nil {
		return nil, nil, err
	}
	sigs := all[user]
	sign := func(key []byte) json.RawMessage {
		if key == nil {
			return nil
		}
		pub := gjson.GetBytes(key, "keys.@values.0").String()
		return withSignatures(key, visibleTo("", user, sigs[pub]))
	}
	return sign(keys["master"]), sign(keys["self_signing"]), nil
}
