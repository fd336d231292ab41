package syncapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
	uastorage "github.com/rohrpost/rohrpost/userapi/storage"
)

// handleDehydratedEvents is POST /dehydrated_device/{deviceId}/events
// (MSC3814): the to-device messages the user's dehydrated device got, in
// batches. Unlike /sync, a batch is not acknowledged by asking for the
// next: if the rehydrating device is lost, another can start over. The
// messages go with the device when it is replaced or deleted.
func (s *Server) handleDehydratedEvents(r *http.Request, dev *userapi.Device) (any, error) {
	after, err := parseDehydratedEvents(r)
	if err != nil {
		return nil, err
	}
	deviceID := mux.Vars(r)["deviceId"]
	user := dev.UserID.String()
	dehydrated, err := s.accountData.DehydratedDevice(r.Context(), user)
	if errors.Is(err, uastorage.ErrNotFound) || (err == nil && dehydrated.DeviceID != deviceID) {
		return nil, mxhttp.Forbidden(deviceID + " is not your dehydrated device")
	}
	if err != nil {
		return nil, err
	}
	upto, err := s.store.MaxToDevicePos(r.Context())
	if err != nil {
		return nil, err
	}
	msgs, err := s.store.ToDeviceFor(r.Context(), user, deviceID, after, upto, maxToDevicePerSync)
	if err != nil {
		return nil, err
	}
	next := after
	if len(msgs) > 0 {
		next = msgs[len(msgs)-1].Pos
	}
	return map[string]any{"events": toDeviceJSON(msgs), "next_batch": strconv.FormatInt(next, 10)}, nil
}

// parseDehydratedEvents reads the request's next_batch: the position of
// the last message the client has, 0 without one. The body may be empty.
func parseDehydratedEvents(r *http.Request) (int64, error) {
	body, err := mxhttp.ReadBody(r, 4096)
	if err != nil {
		return 0, err
	}
	if len(body) == 0 {
		return 0, nil
	}
	var req struct {
		NextBatch *string `json:"next_batch"`
	}
	if err := mxhttp.Unmarshal(body, &req); err != nil {
		return 0, err
	}
	if req.NextBatch == nil {
		return 0, nil
	}
	pos, err := strconv.ParseInt(*req.NextBatch, 10, 64)
	if err != nil || pos < 0 {
		return 0, mxhttp.InvalidParam("next_batch is not a token this server gave")
	}
	return pos, nil
}
