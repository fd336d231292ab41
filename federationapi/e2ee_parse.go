package federationapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/userapi"
)

// Parsers of the end-to-end encryption EDUs (m.device_list_update,
// m.signing_key_update, m.direct_to_device). They take any bytes: what a
// peer sends is checked here, once, before anything is stored; a bad EDU
// is an error, never a panic (FuzzE2EEParsers).

// Limits on what one EDU may carry.
const (
	maxEDUIDLength    = 255
	maxPrevIDs        = 64
	maxDeviceKeyJSON  = 16 << 10
	maxToDeviceEDUMsg = 10000
)

var errBadE2EEEDU = errors.New("malformed EDU")

func badEDU(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadE2EEEDU, fmt.Sprintf(format, args...))
}

// userOfOrigin parses a user id that must belong to the origin server:
// a server speaks only for its own users.
func userOfOrigin(origin spec.ServerName, raw string) (spec.UserID, error) {
	u, err := spec.NewUserID(raw, true)
	if err != nil {
		return spec.UserID{}, badEDU("user id %q: %v", raw, err)
	}
	if u.Domain() != origin {
		return spec.UserID{}, badEDU("user %s does not belong to %s", raw, origin)
	}
	return *u, nil
}

// checkID checks a device or message id: present, UTF-8, not too long.
func checkID(what, id string) error {
	if id == "" || len(id) > maxEDUIDLength || !utf8.ValidString(id) {
		return badEDU("bad %s %q", what, id)
	}
	return nil
}

// isObject tells whether raw is a JSON object (encoding/json hands a
// value over without surrounding space).
func isObject(raw json.RawMessage) bool {
	return len(raw) > 0 && raw[0] == '{' && gjson.ValidBytes(raw)
}

// parseDeviceListUpdate reads an m.device_list_update of origin.
func parseDeviceListUpdate(origin spec.ServerName, content []byte) (*userapi.RemoteDeviceUpdate, error) {
	var c struct {
		UserID      string          `json:"user_id"`
		DeviceID    string          `json:"device_id"`
		DisplayName *string         `json:"device_display_name"`
		StreamID    int64           `json:"stream_id"`
		PrevID      []int64         `json:"prev_id"`
		Deleted     bool            `json:"deleted"`
		Keys        json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return nil, badEDU("m.device_list_update: %v", err)
	}
	user, err := userOfOrigin(origin, c.UserID)
	if err != nil {
		return nil, err
	}
	if err := checkID("device id", c.DeviceID); err != nil {
		return nil, err
	}
	if c.StreamID <= 0 {
		return nil, badEDU("stream_id %d", c.StreamID)
	}
	if len(c.PrevID) > maxPrevIDs {
		return nil, badEDU("%d prev_ids", len(c.PrevID))
	}
	if c.DisplayName != nil && (len(*c.DisplayName) > maxEDUIDLength || !utf8.ValidString(*c.DisplayName)) {
		return nil, badEDU("bad device_display_name")
	}
	u := &userapi.RemoteDeviceUpdate{UserID: user, StreamID: c.StreamID, PrevIDs: c.PrevID, Deleted: c.Deleted,
		Device: userapi.RemoteDevice{DeviceID: c.DeviceID, DisplayName: c.DisplayName}}
	if !c.Deleted && len(c.Keys) > 0 && string(c.Keys) != "null" {
		// Keys that cannot be kept do not make the update wrong: the
		// device (its name, that it exists) still changed, and is kept
		// without keys (nobody can encrypt to it) rather than fetched
		// whole, which would only yield the same keys again.
		if checkDeviceKeys(user, c.DeviceID, c.Keys) == nil {
			u.Device.Keys = c.Keys
		}
	}
	return u, nil
}

// checkDeviceKeys checks a device's keys as its server sent them: a JSON
// object, not too large, that does not name another user or device. The
// rest (algorithms, keys, signatures) is kept as signed and left for
// clients to check, as the spec has them do with the signature: the
// user's own server speaks for the user's devices, and an incomplete
// object is what that server says the device has (Synapse and other
// servers keep it the same way). A contradicting user or device id is
// refused here, so that a client that checks less never sees keys under
// a device they do not claim.
func checkDeviceKeys(user spec.UserID, deviceID string, keys json.RawMessage) error {
	if len(keys) > maxDeviceKeyJSON || !isObject(keys) {
		return badEDU("keys of %s is not a JSON object", deviceID)
	}
	k := gjson.ParseBytes(keys)
	if u := k.Get("user_id"); u.Exists() && u.String() != user.String() {
		return badEDU("keys of %s name another user", deviceID)
	}
	if d := k.Get("device_id"); d.Exists() && d.String() != deviceID {
		return badEDU("keys of %s name another device", deviceID)
	}
	for _, f := range []string{"keys", "signatures"} {
		if v := k.Get(f); v.Exists() && !v.IsObject() {
			return badEDU("keys of %s: %s is not an object", deviceID, f)
		}
	}
	if v := k.Get("algorithms"); v.Exists() && !v.IsArray() {
		return badEDU("keys of %s: algorithms is not a list", deviceID)
	}
	return nil
}

// checkCrossSigningKey checks a cross-signing key of user with usage;
// signatures are for clients to check.
func checkCrossSigningKey(user spec.UserID, usage string, key json.RawMessage) error {
	if len(key) > maxDeviceKeyJSON || !isObject(key) {
		return badEDU("%s key is not a JSON object", usage)
	}
	k := gjson.ParseBytes(key)
	if k.Get("user_id").String() != user.String() || !k.Get("keys").IsObject() {
		return badEDU("%s key names another user or has no keys", usage)
	}
	for _, u := range k.Get("usage").Array() {
		if u.String() == usage {
			return nil
		}
	}
	return badEDU("%s key lacks its usage", usage)
}

// signingKeyUpdate is a checked m.signing_key_update; a nil key is
// unchanged.
type signingKeyUpdate struct {
	UserID                    spec.UserID
	MasterKey, SelfSigningKey json.RawMessage
}

// parseSigningKeyUpdate reads an m.signing_key_update of origin.
func parseSigningKeyUpdate(origin spec.ServerName, content []byte) (*signingKeyUpdate, error) {
	var c struct {
		UserID         string          `json:"user_id"`
		MasterKey      json.RawMessage `json:"master_key"`
		SelfSigningKey json.RawMessage `json:"self_signing_key"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return nil, badEDU("m.signing_key_update: %v", err)
	}
	user, err := userOfOrigin(origin, c.UserID)
	if err != nil {
		return nil, err
	}
	out := &signingKeyUpdate{UserID: user}
	for _, k := range []struct {
		usage string
		raw   json.RawMessage
		dst   *json.RawMessage
	}{{"master", c.MasterKey, &out.MasterKey}, {"self_signing", c.SelfSigningKey, &out.SelfSigningKey}} {
		if len(k.raw) == 0 || bytes.Equal(k.raw, []byte("null")) {
			continue
		}
		if err := checkCrossSigningKey(user, k.usage, k.raw); err != nil {
			return nil, err
		}
		*k.dst = k.raw
	}
	if out.MasterKey == nil && out.SelfSigningKey == nil {
		return nil, badEDU("m.signing_key_update without keys")
	}
	return out, nil
}

// directToDevice is a checked m.direct_to_device, also what the sync API
// receives on bus.FederationToDeviceSubject.
type directToDevice struct {
	Origin    spec.ServerName                       `json:"origin"`
	Sender    string                                `json:"sender"`
	Type      string                                `json:"type"`
	MessageID string                                `json:"message_id"`
	Messages  map[string]map[string]json.RawMessage `json:"messages"`
}

// parseDirectToDevice reads an m.direct_to_device of origin and keeps the
// messages for users isLocal accepts (the others are not ours to deliver).
func parseDirectToDevice(origin spec.ServerName, content []byte, isLocal func(spec.ServerName) bool) (*directToDevice, error) {
	var c directToDevice
	if err := json.Unmarshal(content, &c); err != nil {
		return nil, badEDU("m.direct_to_device: %v", err)
	}
	if _, err := userOfOrigin(origin, c.Sender); err != nil {
		return nil, err
	}
	if err := checkID("message_id", c.MessageID); err != nil {
		return nil, err
	}
	if err := checkID("type", c.Type); err != nil {
		return nil, err
	}
	c.Origin = origin
	kept := map[string]map[string]json.RawMessage{}
	n := 0
	for userID, byDevice := range c.Messages {
		u, err := spec.NewUserID(userID, true)
		if err != nil || !isLocal(u.Domain()) {
			continue
		}
		for device, msg := range byDevice {
			if err := checkID("device id", device); err != nil {
				return nil, err
			}
			if !isObject(msg) {
				return nil, badEDU("message for %s %s is not an object", userID, device)
			}
		}
		if n += len(byDevice); n > maxToDeviceEDUMsg {
			return nil, badEDU("more than %d messages", maxToDeviceEDUMsg)
		}
		if len(byDevice) > 0 {
			kept[userID] = byDevice
		}
	}
	c.Messages = kept
	return &c, nil
}
