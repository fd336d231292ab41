package federationapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// The keys endpoints other servers call, for local users only: another
// server's user is not ours to answer for (400 M_INVALID_PARAM, as
// /query/profile answers). What a remote server sees is what any of its
// users would: a device's keys with the owner's signatures, display
// names, the master and self-signing keys; never the user-signing key.

// userDevices is GET /_matrix/federation/v1/user/devices/{userId}.
func (s *Server) userDevices(r *http.Request, _ spec.ServerName, _ []byte) (any, error) {
	user, err := s.localUser(mux.Vars(r)["userId"])
	if err != nil {
		return nil, err
	}
	list, err := s.users.FederationDevices(r.Context(), user)
	if errors.Is(err, userapi.ErrNotFound) {
		return nil, mxhttp.NotFound("Unknown user")
	}
	return list, err
}

// userKeysQuery is POST /_matrix/federation/v1/user/keys/query.
func (s *Server) userKeysQuery(r *http.Request, _ spec.ServerName, body []byte) (any, error) {
	var req struct {
		DeviceKeys map[string][]string `json:"device_keys"`
	}
	if err := mxhttp.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if req.DeviceKeys == nil {
		return nil, mxhttp.BadJSON("device_keys is required")
	}
	for id := range req.DeviceKeys {
		if _, err := s.localUser(id); err != nil {
			return nil, err
		}
	}
	// No requesting user: only the owners' own signatures are shown.
	res, err := s.users.QueryKeys(r.Context(), spec.UserID{}, req.DeviceKeys)
	if err != nil {
		return nil, keysError(err)
	}
	return struct {
		DeviceKeys      map[string]map[string]json.RawMessage `json:"device_keys"`
		MasterKeys      map[string]json.RawMessage            `json:"master_keys"`
		SelfSigningKeys map[string]json.RawMessage            `json:"self_signing_keys"`
	}{res.DeviceKeys, res.MasterKeys, res.SelfSigningKeys}, nil
}

// userKeysClaim is POST /_matrix/federation/v1/user/keys/claim.
func (s *Server) userKeysClaim(r *http.Request, _ spec.ServerName, body []byte) (any, error) {
	var req struct {
		OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
	}
	if err := mxhttp.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if req.OneTimeKeys == nil {
		return nil, mxhttp.BadJSON("one_time_keys is required")
	}
	for id := range req.OneTimeKeys {
		if _, err := s.localUser(id); err != nil {
			return nil, err
		}
	}
	keys, err := s.users.ClaimKeys(r.Context(), req.OneTimeKeys)
	if err != nil {
		return nil, keysError(err)
	}
	if keys == nil {
		keys = map[string]map[string]map[string]json.RawMessage{}
	}
	return map[string]any{"one_time_keys": keys}, nil
}

// localUser parses a user id that must be one of ours.
func (s *Server) localUser(id string) (spec.UserID, error) {
	u, err := spec.NewUserID(id, true)
	if err != nil {
		return spec.UserID{}, mxhttp.InvalidParam("invalid user id " + id)
	}
	if !s.isLocal(u.Domain()) {
		return spec.UserID{}, mxhttp.InvalidParam(id + " is not a user of this server")
	}
	return *u, nil
}

// keysError turns the user API's refusals of a query or claim (too many
// users or devices) into 400 M_BAD_JSON.
func keysError(err error) error {
	if errors.Is(err, userapi.ErrBadKeys) {
		return mxhttp.BadJSON(err.Error())
	}
	return err
}
