package clientapi

import (
	"errors"
	"net/http"

	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// maxPusherBody bounds POST /pushers/set.
const maxPusherBody = 16 << 10

// getPushers is GET /pushers.
func (s *Server) getPushers(r *http.Request, dev *userapi.Device) (any, error) {
	pushers, err := s.users.Pushers(r.Context(), dev.UserID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"pushers": pushers}, nil
}

// setPusher is POST /pushers/set.
func (s *Server) setPusher(r *http.Request, dev *userapi.Device) (any, error) {
	body, err := mxhttp.ReadBody(r, maxPusherBody)
	if err != nil {
		return nil, err
	}
	var req userapi.PusherSet
	if err := mxhttp.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if d := gjson.GetBytes(body, "data"); d.Exists() && !d.IsObject() {
		return nil, mxhttp.BadJSON("data must be an object")
	}
	// kind is required; null (not absence) deletes.
	if !gjson.GetBytes(body, "kind").Exists() {
		return nil, mxhttp.MissingParam("kind is required (null deletes the pusher)")
	}
	err = s.users.SetPusher(r.Context(), dev, req)
	switch {
	case errors.Is(err, userapi.ErrMissingPusherParam):
		return nil, mxhttp.MissingParam(trimSentinel(err.Error(), userapi.ErrMissingPusherParam))
	case errors.Is(err, userapi.ErrBadPusher):
		return nil, mxhttp.InvalidParam(trimSentinel(err.Error(), userapi.ErrBadPusher))
	case err != nil:
		return nil, err
	}
	return struct{}{}, nil
}
