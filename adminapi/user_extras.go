package adminapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// What the admin API shows of a user beyond the account (Synapse's user
// admin API): memberships, pushers, account data, and the lookups of a
// user by a third-party address.

// memberships is GET /v1/users/{userId}/memberships: every room the
// user has a membership of, and which.
func (s *Server) memberships(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.existingUser(r)
	if err != nil {
		return nil, err
	}
	ms, err := s.roomStore.MembershipsOfUser(r.Context(), user.String())
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		out[m.RoomID] = m.Membership
	}
	return map[string]any{"memberships": out}, nil
}

// pushers is GET /v1/users/{userId}/pushers.
func (s *Server) pushers(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.existingUser(r)
	if err != nil {
		return nil, err
	}
	ps, err := s.users.Pushers(r.Context(), user)
	if err != nil {
		return nil, userError(err)
	}
	list := make([]map[string]any, 0, len(ps))
	for _, p := range ps {
		list = append(list, map[string]any{"pushkey": p.PushKey, "kind": p.Kind, "app_id": p.AppID,
			"app_display_name": p.AppDisplayName, "device_display_name": p.DeviceDisplayName,
			"profile_tag": p.ProfileTag, "lang": p.Lang, "data": p.Data, "user_name": user.String()})
	}
	return map[string]any{"pushers": list, "total": len(list)}, nil
}

// accountData is GET /v1/users/{userId}/accountdata: global and per
// room, by type.
func (s *Server) accountData(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.existingUser(r)
	if err != nil {
		return nil, err
	}
	pos, err := s.users.AccountDataPosition(r.Context())
	if err != nil {
		return nil, err
	}
	items, err := s.users.AccountDataSince(r.Context(), user, 0, pos)
	if err != nil {
		return nil, userError(err)
	}
	global := map[string]json.RawMessage{}
	rooms := map[string]map[string]json.RawMessage{}
	for _, it := range items {
		if it.RoomID == "" {
			global[it.Type] = it.Content
			continue
		}
		if rooms[it.RoomID] == nil {
			rooms[it.RoomID] = map[string]json.RawMessage{}
		}
		rooms[it.RoomID][it.Type] = it.Content
	}
	return map[string]any{"account_data": map[string]any{"global": global, "rooms": rooms}}, nil
}

// threepidUser is GET /v1/threepid/{medium}/users/{address}.
func (s *Server) threepidUser(r *http.Request, _ *userapi.Device) (any, error) {
	v := mux.Vars(r)
	addr := v["address"]
	if v["medium"] == userapi.MediumEmail {
		if a, err := userapi.CanonicalEmail(addr); err == nil {
			addr = a
		}
	}
	owner, err := s.users.ThreePIDOwner(r.Context(), v["medium"], addr)
	if errors.Is(err, userapi.ErrNotFound) {
		return nil, mxhttp.NotFound("User not found")
	}
	if err != nil {
		return nil, err
	}
	return map[string]string{"user_id": owner.String()}, nil
}

// impersonate is POST /v1/users/{userId}/login: an access token of the
// user for the admin, as Synapse (not for the admin themselves, not for
// deactivated accounts), optionally expiring at valid_until_ms.
func (s *Server) impersonate(r *http.Request, admin *userapi.Device) (any, error) {
	user, err := s.localUser(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		ValidUntilMS *int64 `json:"valid_until_ms"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	if user == admin.UserID {
		return nil, mxhttp.InvalidParam("Cannot use admin API to login as self")
	}
	var until int64
	if req.ValidUntilMS != nil {
		until = *req.ValidUntilMS
		if until <= nowMS() {
			return nil, mxhttp.InvalidParam("'valid_until_ms' is in the past")
		}
		noteAudit(r, "valid_until_ms", until)
	}
	acc, err := s.users.Account(r.Context(), user)
	if err != nil {
		return nil, userError(err)
	}
	if acc.Deactivated {
		return nil, mxhttp.InvalidParam("The account is deactivated")
	}
	sess, err := s.users.ImpersonationSession(r.Context(), user, admin.UserID, until)
	if err != nil {
		return nil, userError(err)
	}
	// The device is in the audit log, never the token.
	noteAudit(r, "device_id", sess.DeviceID)
	return map[string]string{"access_token": sess.AccessToken}, nil
}

func nowMS() int64 { return time.Now().UnixMilli() }
