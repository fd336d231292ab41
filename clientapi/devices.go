package clientapi

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/gorilla/mux"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// listDevices is GET /devices.
func (s *Server) listDevices(r *http.Request, dev *userapi.Device) (any, error) {
	devices, err := s.users.Devices(r.Context(), dev.UserID)
	if err != nil {
		return nil, userError(err)
	}
	if devices == nil {
		devices = []userapi.DeviceInfo{}
	}
	return map[string]any{"devices": devices}, nil
}

// getDevice is GET /devices/{deviceId}.
func (s *Server) getDevice(r *http.Request, dev *userapi.Device) (any, error) {
	info, err := s.users.Device(r.Context(), dev.UserID, mux.Vars(r)["deviceId"])
	if err != nil {
		return nil, userError(err)
	}
	return info, nil
}

// updateDevice is PUT /devices/{deviceId}.
func (s *Server) updateDevice(r *http.Request, dev *userapi.Device) (any, error) {
	var req struct {
		DisplayName *string `json:"display_name"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	if err := s.users.UpdateDevice(r.Context(), dev.UserID, mux.Vars(r)["deviceId"], req.DisplayName); err != nil {
		return nil, userError(err)
	}
	return struct{}{}, nil
}

// deleteDevice is DELETE /devices/{deviceId}; it needs the password.
func (s *Server) deleteDevice(r *http.Request, dev *userapi.Device) (any, error) {
	var req struct {
		Auth json.RawMessage `json:"auth"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	deviceID := mux.Vars(r)["deviceId"]
	return s.deleteDevicesWithAuth(r, dev, req.Auth, "DELETE /devices/"+deviceID, []string{deviceID})
}

// deleteDevices is POST /delete_devices; it needs the password.
func (s *Server) deleteDevices(r *http.Request, dev *userapi.Device) (any, error) {
	var req struct {
		Auth    json.RawMessage `json:"auth"`
		Devices *[]string       `json:"devices"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	if req.Devices == nil {
		return nil, mxhttp.MissingParam("Missing devices")
	}
	ids := slices.Clone(*req.Devices)
	slices.Sort(ids)
	// The session covers exactly this set of devices.
	name, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	return s.deleteDevicesWithAuth(r, dev, req.Auth, "POST /delete_devices "+string(name), ids)
}

func (s *Server) deleteDevicesWithAuth(r *http.Request, dev *userapi.Device, rawAuth json.RawMessage, opName string, ids []string) (any, error) {
	auth, err := parseAuth(rawAuth)
	if err != nil {
		return nil, err
	}
	op := uiaOp{name: opName, user: &dev.UserID, flows: s.reauthFlows(r.Context(), dev.UserID), reuseDevice: dev.ID}
	if done, challenge, err := s.interactiveAuth(r.Context(), auth, op); !done {
		return challenge, err
	}
	if err := s.users.DeleteDevices(r.Context(), dev.UserID, ids); err != nil {
		return nil, userError(err)
	}
	return struct{}{}, nil
}
