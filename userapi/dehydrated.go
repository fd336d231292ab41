package userapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/userapi/storage"
)

// Dehydrated devices (MSC3814): while none of a user's devices is online,
// others still encrypt room keys for the dehydrated one; the user's next
// login decrypts its state (device_data, which only the user's clients can
// read) and fetches what was sent to it. The device is a row of devices
// without a usable token, so keys, /keys/query and to-device messages
// need nothing of their own.

// maxDeviceData bounds device_data: an Olm account pickle with its
// one-time keys is a few kilobytes.
const maxDeviceData = 64 << 10

// ErrDeviceInUse is returned when a dehydrated device would take the id
// of a logged-in device.
var ErrDeviceInUse = errors.New("device id in use")

// DehydratedDeviceRequest is PUT /dehydrated_device.
type DehydratedDeviceRequest struct {
	User        spec.UserID
	DeviceID    string
	DeviceData  json.RawMessage
	DisplayName *string
	Keys        KeyUploadRequest
}

// DehydratedDevice is what GET /dehydrated_device returns.
type DehydratedDevice struct {
	DeviceID   string          `json:"device_id"`
	DeviceData json.RawMessage `json:"device_data"`
}

// PutDehydratedDevice makes the device the user's dehydrated device with
// its keys, replacing the one before (its keys and waiting messages go).
func (s *Server) PutDehydratedDevice(ctx context.Context, req DehydratedDeviceRequest) error {
	if req.DeviceID == "" || len(req.DeviceID) > 255 {
		return fmt.Errorf("%w: device_id must be 1 to 255 characters", ErrBadKeys)
	}
	if len(req.DeviceData) > maxDeviceData || !gjson.ValidBytes(req.DeviceData) || !gjson.ParseBytes(req.DeviceData).IsObject() ||
		gjson.GetBytes(req.DeviceData, "algorithm").Type != gjson.String {
		return fmt.Errorf("%w: device_data must be an object with an algorithm", ErrBadKeys)
	}
	req.Keys.User, req.Keys.DeviceID = req.User, req.DeviceID
	up, err := s.checkKeyUpload(req.Keys)
	if err != nil {
		return err
	}
	// A hash no token has: the device can never be logged in with.
	unusable := make([]byte, 32)
	if _, err := rand.Read(unusable); err != nil {
		return err
	}
	dev := &storage.Device{UserID: req.User.String(), DeviceID: req.DeviceID, DisplayName: req.DisplayName,
		TokenHash: unusable, CreatedTS: nowMillis()}
	replaced, err := s.store.PutDehydratedDevice(ctx, dev, string(req.DeviceData))
	if errors.Is(err, storage.ErrDeviceInUse) {
		return fmt.Errorf("%w: %s is one of the user's logged-in devices", ErrDeviceInUse, req.DeviceID)
	}
	if err != nil {
		return userError(err)
	}
	s.revoke(replaced)
	if _, err := s.storeKeys(ctx, req.User, up); err != nil {
		return err
	}
	if up.DeviceKeys == nil {
		// Storing device keys told the user's contacts already.
		s.deviceListChanged(ctx, req.User.String(), req.DeviceID)
	}
	return nil
}

// DehydratedDeviceOf returns the user's dehydrated device, or ErrNotFound.
func (s *Server) DehydratedDeviceOf(ctx context.Context, user spec.UserID) (*DehydratedDevice, error) {
	d, err := s.store.DehydratedDevice(ctx, user.String())
	if err != nil {
		return nil, userError(err)
	}
	return &DehydratedDevice{DeviceID: d.DeviceID, DeviceData: json.RawMessage(d.DeviceData)}, nil
}

// DeleteDehydratedDevice deletes the user's dehydrated device and returns
// its id, or ErrNotFound.
func (s *Server) DeleteDehydratedDevice(ctx context.Context, user spec.UserID) (string, error) {
	id, revoked, err := s.store.DeleteDehydratedDevice(ctx, user.String())
	if err != nil {
		return "", userError(err)
	}
	s.revoke(revoked)
	return id, nil
}
