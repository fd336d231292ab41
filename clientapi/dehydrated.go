package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// dehydratedDevicePath is where MSC3814's endpoints live until they are
// in the spec; the device's to-device messages are fetched from the sync
// API, which keeps the inboxes.
const dehydratedDevicePath = "/org.matrix.msc3814.v1/dehydrated_device"

// putDehydratedDevice is PUT /dehydrated_device: a new dehydrated device
// with its keys, in place of the one before.
func (s *Server) putDehydratedDevice(r *http.Request, dev *userapi.Device) (any, error) {
	var body struct {
		DeviceID     string                     `json:"device_id"`
		DeviceData   json.RawMessage            `json:"device_data"`
		DisplayName  *string                    `json:"initial_device_display_name"`
		DeviceKeys   json.RawMessage            `json:"device_keys"`
		OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys"`
		FallbackKeys map[string]json.RawMessage `json:"fallback_keys"`
	}
	if err := mxhttp.DecodeJSON(r, maxKeysBody, &body); err != nil {
		return nil, err
	}
	if body.DeviceID == "" || len(body.DeviceData) == 0 {
		return nil, mxhttp.BadJSON("device_id and device_data are required")
	}
	err := s.users.PutDehydratedDevice(r.Context(), userapi.DehydratedDeviceRequest{User: dev.UserID, DeviceID: body.DeviceID,
		DeviceData: body.DeviceData, DisplayName: body.DisplayName,
		Keys: userapi.KeyUploadRequest{DeviceKeys: body.DeviceKeys, OneTimeKeys: body.OneTimeKeys, FallbackKeys: body.FallbackKeys}})
	if errors.Is(err, userapi.ErrDeviceInUse) {
		return nil, mxhttp.InvalidParam(trimSentinel(err.Error(), userapi.ErrDeviceInUse))
	}
	if err != nil {
		return nil, keyError(err)
	}
	return map[string]string{"device_id": body.DeviceID}, nil
}

// getDehydratedDevice is GET /dehydrated_device.
func (s *Server) getDehydratedDevice(r *http.Request, dev *userapi.Device) (any, error) {
	d, err := s.users.DehydratedDeviceOf(r.Context(), dev.UserID)
	if errors.Is(err, userapi.ErrNotFound) {
		return nil, mxhttp.NotFound("No dehydrated device")
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// deleteDehydratedDevice is DELETE /dehydrated_device.
func (s *Server) deleteDehydratedDevice(r *http.Request, dev *userapi.Device) (any, error) {
	id, err := s.users.DeleteDehydratedDevice(r.Context(), dev.UserID)
	if errors.Is(err, userapi.ErrNotFound) {
		return nil, mxhttp.NotFound("No dehydrated device")
	}
	if err != nil {
		return nil, err
	}
	return map[string]string{"device_id": id}, nil
}
