package adminapi

import (
	"encoding/json"
	"net/http"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
	usstorage "github.com/rohrpost/rohrpost/userapi/storage"
)

// A user's rate limit override (Synapse's override_ratelimit): it
// replaces every per-user rc_* limit of the user's requests in the
// client API (clientapi/ratelimit_override.go); 0 messages per second
// lifts them.

// getRateOverride is GET /v1/users/{userId}/override_ratelimit: {} when
// there is none.
func (s *Server) getRateOverride(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.localUser(r)
	if err != nil {
		return nil, err
	}
	o, err := s.users.RateOverride(r.Context(), user)
	if err != nil {
		return nil, userError(err)
	}
	if o == nil {
		return struct{}{}, nil
	}
	return o, nil
}

// setRateOverride is POST /v1/users/{userId}/override_ratelimit.
func (s *Server) setRateOverride(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.localUser(r)
	if err != nil {
		return nil, err
	}
	var req map[string]json.RawMessage
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	var o usstorage.RateOverride
	for name, dst := range map[string]*int64{"messages_per_second": &o.MessagesPerSecond, "burst_count": &o.BurstCount} {
		raw, ok := req[name]
		if !ok {
			continue
		}
		if json.Unmarshal(raw, dst) != nil || *dst < 0 {
			return nil, mxhttp.InvalidParam(name + " must be a non-negative integer")
		}
	}
	noteAudit(r, "messages_per_second", o.MessagesPerSecond)
	noteAudit(r, "burst_count", o.BurstCount)
	if err := s.users.SetRateOverride(r.Context(), user, &o); err != nil {
		return nil, userError(err)
	}
	return o, nil
}

// deleteRateOverride is DELETE /v1/users/{userId}/override_ratelimit.
func (s *Server) deleteRateOverride(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.localUser(r)
	if err != nil {
		return nil, err
	}
	if err := s.users.SetRateOverride(r.Context(), user, nil); err != nil {
		return nil, userError(err)
	}
	return struct{}{}, nil
}
