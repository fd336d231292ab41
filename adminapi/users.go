package adminapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
	usstorage "github.com/rohrpost/rohrpost/userapi/storage"
)

// nullable is s, or JSON null when empty (Synapse's unset display name
// and avatar).
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullableTS(ts int64) any {
	if ts == 0 {
		return nil
	}
	return ts
}

func userListJSON(e usstorage.UserListEntry) map[string]any {
	return map[string]any{
		"name": e.UserID, "user_type": nil, "is_guest": e.IsGuest, "admin": e.IsAdmin, "deactivated": e.Deactivated,
		"erased": e.Erased, "shadow_banned": e.ShadowBanned, "displayname": nullable(e.DisplayName), "avatar_url": nullable(e.AvatarURL),
		// Milliseconds in the list, seconds in a user's details, as Synapse.
		"creation_ts": e.CreatedTS, "approved": true, "locked": e.Locked, "suspended": e.Suspended,
		"last_seen_ts": nullableTS(e.LastSeenTS),
	}
}

// listUsers is GET /v2/users.
func (s *Server) listUsers(r *http.Request, _ *userapi.Device) (any, error) {
	orders := []string{"name"}
	for k := range usstorage.UserListOrders {
		if k != "name" {
			orders = append(orders, k)
		}
	}
	p, err := parsePaging(r, 100, orders...)
	if err != nil {
		return nil, err
	}
	q := usstorage.UserListQuery{UserID: r.URL.Query().Get("user_id"), Name: r.URL.Query().Get("name"),
		OrderBy: p.OrderBy, Forward: p.Forward, Offset: p.From, Limit: p.Limit}
	if q.Guests, err = boolParam(r, "guests", true); err != nil {
		return nil, err
	}
	if q.Deactivated, err = boolParam(r, "deactivated", false); err != nil {
		return nil, err
	}
	if q.Locked, err = boolParam(r, "locked", false); err != nil {
		return nil, err
	}
	if q.Admins, err = optBoolParam(r, "admins"); err != nil {
		return nil, err
	}
	users, total, err := s.userStore.ListUsers(r.Context(), q)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(users))
	for _, u := range users {
		out = append(out, userListJSON(u))
	}
	return p.tokens(map[string]any{"users": out}, len(out), total), nil
}

// userDetails is a user as GET /v2/users/{userId} shows it.
func (s *Server) userDetails(r *http.Request, user spec.UserID) (map[string]any, error) {
	e, err := s.userStore.AdminUser(r.Context(), user.String())
	if errors.Is(err, usstorage.ErrNotFound) {
		return nil, mxhttp.NotFound("User not found")
	}
	if err != nil {
		return nil, err
	}
	threepids := []map[string]any{}
	if tps, err := s.users.ThreePIDs(r.Context(), user); err == nil {
		for _, tp := range tps {
			threepids = append(threepids, map[string]any{"medium": tp.Medium, "address": tp.Address,
				"added_at": tp.AddedAt, "validated_at": tp.ValidatedAt})
		}
	}
	externalIDs := []map[string]string{}
	if ids, err := s.users.ExternalIDs(r.Context(), user); err == nil {
		for _, id := range ids {
			externalIDs = append(externalIDs, map[string]string{"auth_provider": id.AuthProvider, "external_id": id.ExternalID})
		}
	}
	out := userListJSON(*e)
	out["creation_ts"] = e.CreatedTS / 1000
	out["threepids"] = threepids
	out["external_ids"] = externalIDs
	out["appservice_id"] = nil
	out["consent_server_notice_sent"] = nil
	out["consent_version"] = nil
	out["consent_ts"] = nil
	return out, nil
}

// getUser is GET /v2/users/{userId}.
func (s *Server) getUser(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.localUser(r)
	if err != nil {
		return nil, err
	}
	return s.userDetails(r, user)
}

type putUserRequest struct {
	Password      *string         `json:"password"`
	LogoutDevices *bool           `json:"logout_devices"`
	DisplayName   *string         `json:"displayname"`
	AvatarURL     *string         `json:"avatar_url"`
	Admin         *bool           `json:"admin"`
	Deactivated   *bool           `json:"deactivated"`
	Locked        *bool           `json:"locked"`
	UserType      *string         `json:"user_type"`
	Threepids     json.RawMessage `json:"threepids"`
	ExternalIDs   json.RawMessage `json:"external_ids"`
}

// putUser is PUT /v2/users/{userId}: creates the account (201) or
// changes what the body names (200).
func (s *Server) putUser(r *http.Request, admin *userapi.Device) (any, error) {
	user, err := s.localUser(r)
	if err != nil {
		return nil, err
	}
	var req putUserRequest
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	var fields []string
	for name, set := range map[string]bool{"password": req.Password != nil, "displayname": req.DisplayName != nil,
		"avatar_url": req.AvatarURL != nil, "admin": req.Admin != nil, "deactivated": req.Deactivated != nil,
		"locked": req.Locked != nil} {
		if set {
			fields = append(fields, name)
		}
	}
	links, err := s.readUserLinks(r, user, req)
	if err != nil {
		return nil, err
	}
	fields = append(fields, links.fields()...)
	sort.Strings(fields)
	noteAudit(r, "fields", fields)
	if req.Password != nil && (len(*req.Password) == 0 || len(*req.Password) > 512) {
		return nil, mxhttp.InvalidParam("Invalid password")
	}
	ctx := r.Context()
	acc, err := s.users.Account(ctx, user)
	if errors.Is(err, userapi.ErrNotFound) {
		return s.createUser(r, user, req, links)
	}
	if err != nil {
		return nil, err
	}
	if req.Admin != nil && !*req.Admin && user == admin.UserID {
		return nil, mxhttp.InvalidParam("You may not demote yourself.")
	}
	if req.Deactivated != nil && !*req.Deactivated && acc.Deactivated {
		password := ""
		if req.Password != nil {
			password = *req.Password
		}
		if password == "" {
			return nil, mxhttp.InvalidParam("Must provide a password to re-activate an account.")
		}
		if err := s.users.Reactivate(ctx, user, password); err != nil {
			return nil, userError(err)
		}
		acc.Deactivated = false
		req.Password = nil
	}
	if req.Password != nil && !acc.Deactivated {
		logout := req.LogoutDevices == nil || *req.LogoutDevices
		noteAudit(r, "logout_devices", logout)
		if err := s.users.SetPassword(ctx, user, *req.Password, logout, ""); err != nil {
			return nil, userError(err)
		}
	}
	if req.DisplayName != nil || req.AvatarURL != nil {
		p, err := s.users.SetProfile(ctx, user, req.DisplayName, req.AvatarURL)
		if err != nil {
			return nil, userError(err)
		}
		if s.onProfileChange != nil && !acc.Deactivated {
			s.onProfileChange(ctx, user, *p)
		}
	}
	if req.Admin != nil && *req.Admin != acc.IsAdmin {
		if err := s.users.SetAdmin(ctx, user, *req.Admin); err != nil {
			return nil, userError(err)
		}
	}
	if req.Locked != nil && !acc.Deactivated {
		if _, err := s.users.SetAccountModeration(ctx, user, req.Locked, nil); err != nil {
			return nil, userError(err)
		}
	}
	if !acc.Deactivated {
		if err := s.applyUserLinks(r, user, links); err != nil {
			return nil, err
		}
	}
	if req.Deactivated != nil && *req.Deactivated && !acc.Deactivated {
		if err := s.deactivateUser(r, user, false); err != nil {
			return nil, err
		}
	}
	return s.userDetails(r, user)
}

func (s *Server) createUser(r *http.Request, user spec.UserID, req putUserRequest, links userLinks) (any, error) {
	ctx := r.Context()
	noteAudit(r, "created", true)
	reg := userapi.RegisterRequest{User: user, NoDevice: true, Admin: req.Admin != nil && *req.Admin, DisplayName: user.Local()}
	if req.Password != nil {
		reg.Password = *req.Password
	}
	if req.DisplayName != nil && *req.DisplayName != "" {
		reg.DisplayName = *req.DisplayName
	}
	if _, err := s.users.Register(ctx, reg); err != nil {
		return nil, userError(err)
	}
	if req.AvatarURL != nil && *req.AvatarURL != "" {
		if _, err := s.users.SetProfile(ctx, user, nil, req.AvatarURL); err != nil {
			return nil, userError(err)
		}
	}
	if req.Locked != nil && *req.Locked {
		if _, err := s.users.SetAccountModeration(ctx, user, req.Locked, nil); err != nil {
			return nil, userError(err)
		}
	}
	if err := s.applyUserLinks(r, user, links); err != nil {
		return nil, err
	}
	if req.Deactivated != nil && *req.Deactivated {
		if err := s.deactivateUser(r, user, false); err != nil {
			return nil, err
		}
	}
	details, err := s.userDetails(r, user)
	if err != nil {
		return nil, err
	}
	return mxhttp.Response{Status: http.StatusCreated, Body: details}, nil
}

// deactivateUser erases (if asked) and deactivates the account and makes
// it leave its rooms, as the client API's own deactivation does.
func (s *Server) deactivateUser(r *http.Request, user spec.UserID, erase bool) error {
	ctx := r.Context()
	if erase {
		if err := s.users.Erase(ctx, user); err != nil {
			return userError(err)
		}
	}
	if err := s.users.Deactivate(ctx, user); err != nil {
		return userError(err)
	}
	if s.onDeactivate != nil {
		s.onDeactivate(ctx, user)
	}
	return nil
}

// deactivate is POST /v1/deactivate/{userId} with an optional erase.
func (s *Server) deactivate(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.localUser(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Erase bool `json:"erase"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	noteAudit(r, "erase", req.Erase)
	if _, err := s.users.Account(r.Context(), user); err != nil {
		return nil, userError(err)
	}
	if err := s.deactivateUser(r, user, req.Erase); err != nil {
		return nil, err
	}
	return map[string]string{"id_server_unbind_result": "success"}, nil
}

// resetPassword is POST /v1/reset_password/{userId}.
func (s *Server) resetPassword(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.localUser(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		NewPassword   string `json:"new_password"`
		LogoutDevices *bool  `json:"logout_devices"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	if req.NewPassword == "" || len(req.NewPassword) > 512 {
		return nil, mxhttp.MissingParam("new_password is required")
	}
	logout := req.LogoutDevices == nil || *req.LogoutDevices
	noteAudit(r, "logout_devices", logout)
	acc, err := s.users.Account(r.Context(), user)
	if err != nil {
		return nil, userError(err)
	}
	if acc.Deactivated {
		return nil, mxhttp.InvalidParam("The account is deactivated")
	}
	if err := s.users.SetPassword(r.Context(), user, req.NewPassword, logout, ""); err != nil {
		return nil, userError(err)
	}
	return nil, nil
}

// userAdmin is GET /v1/users/{userId}/admin.
func (s *Server) userAdmin(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.localUser(r)
	if err != nil {
		return nil, err
	}
	acc, err := s.users.Account(r.Context(), user)
	if err != nil {
		return nil, userError(err)
	}
	return map[string]bool{"admin": acc.IsAdmin}, nil
}

// setUserAdmin is PUT /v1/users/{userId}/admin.
func (s *Server) setUserAdmin(r *http.Request, admin *userapi.Device) (any, error) {
	user, err := s.localUser(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Admin *bool `json:"admin"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	if req.Admin == nil {
		return nil, mxhttp.MissingParam("admin is required")
	}
	noteAudit(r, "admin", *req.Admin)
	if !*req.Admin && user == admin.UserID {
		return nil, mxhttp.InvalidParam("You may not demote yourself.")
	}
	if err := s.users.SetAdmin(r.Context(), user, *req.Admin); err != nil {
		return nil, userError(err)
	}
	return nil, nil
}

type whoisConnection struct {
	IP        string `json:"ip"`
	LastSeen  int64  `json:"last_seen"`
	UserAgent string `json:"user_agent"`
}

// whois is GET /v1/whois/{userId}: each device is one session whose one
// connection is its last request.
func (s *Server) whois(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.localUser(r)
	if err != nil {
		return nil, err
	}
	if _, err := s.users.Account(r.Context(), user); err != nil {
		return nil, userError(err)
	}
	devices, err := s.users.Devices(r.Context(), user)
	if err != nil {
		return nil, userError(err)
	}
	out := map[string]any{}
	for _, d := range devices {
		conns := []whoisConnection{}
		if d.LastSeenTS != nil {
			c := whoisConnection{LastSeen: *d.LastSeenTS, UserAgent: d.LastSeenUserAgent}
			if d.LastSeenIP != nil {
				c.IP = *d.LastSeenIP
			}
			conns = append(conns, c)
		}
		out[d.DeviceID] = map[string]any{"sessions": []any{map[string]any{"connections": conns}}}
	}
	return map[string]any{"user_id": user.String(), "devices": out}, nil
}

func deviceJSON(user spec.UserID, d userapi.DeviceInfo) map[string]any {
	out := map[string]any{"device_id": d.DeviceID, "display_name": nil, "last_seen_ip": nil, "last_seen_ts": nil,
		"last_seen_user_agent": nil, "user_id": user.String()}
	if d.DisplayName != nil {
		out["display_name"] = *d.DisplayName
	}
	if d.LastSeenIP != nil {
		out["last_seen_ip"] = *d.LastSeenIP
	}
	if d.LastSeenTS != nil {
		out["last_seen_ts"] = *d.LastSeenTS
	}
	if d.LastSeenUserAgent != "" {
		out["last_seen_user_agent"] = d.LastSeenUserAgent
	}
	return out
}

// existingUser is the path's local user, 404 unless the account exists.
func (s *Server) existingUser(r *http.Request) (spec.UserID, error) {
	user, err := s.localUser(r)
	if err != nil {
		return user, err
	}
	if _, err := s.users.Account(r.Context(), user); err != nil {
		return user, userError(err)
	}
	return user, nil
}

// listDevices is GET /v2/users/{userId}/devices.
func (s *Server) listDevices(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.existingUser(r)
	if err != nil {
		return nil, err
	}
	devices, err := s.users.Devices(r.Context(), user)
	if err != nil {
		return nil, userError(err)
	}
	out := make([]map[string]any, 0, len(devices))
	for _, d := range devices {
		out = append(out, deviceJSON(user, d))
	}
	return map[string]any{"devices": out, "total": len(out)}, nil
}

// createDevice is POST /v2/users/{userId}/devices.
func (s *Server) createDevice(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.existingUser(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		DeviceID string `json:"device_id"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	if req.DeviceID == "" || len(req.DeviceID) > 255 {
		return nil, mxhttp.MissingParam("device_id is required")
	}
	setAuditTarget(r, user.String()+" "+req.DeviceID)
	if err := s.users.CreateDeviceWithoutToken(r.Context(), user, req.DeviceID); err != nil {
		return nil, userError(err)
	}
	return mxhttp.Response{Status: http.StatusCreated, Body: map[string]any{}}, nil
}

// deleteDevices is POST /v2/users/{userId}/delete_devices.
func (s *Server) deleteDevices(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.existingUser(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Devices []string `json:"devices"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	if req.Devices == nil {
		return nil, mxhttp.MissingParam("devices is required")
	}
	noteAudit(r, "devices", req.Devices)
	if err := s.users.DeleteDevices(r.Context(), user, req.Devices); err != nil {
		return nil, userError(err)
	}
	return nil, nil
}

// getDevice is GET /v2/users/{userId}/devices/{deviceId}.
func (s *Server) getDevice(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.existingUser(r)
	if err != nil {
		return nil, err
	}
	d, err := s.users.Device(r.Context(), user, mux.Vars(r)["deviceId"])
	if err != nil {
		return nil, deviceError(err)
	}
	return deviceJSON(user, *d), nil
}

func deviceError(err error) error {
	if errors.Is(err, userapi.ErrNotFound) {
		return mxhttp.NotFound("Device not found")
	}
	return userError(err)
}

// putDevice is PUT /v2/users/{userId}/devices/{deviceId}: the display
// name.
func (s *Server) putDevice(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.existingUser(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		DisplayName *string `json:"display_name"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	if err := s.users.UpdateDevice(r.Context(), user, mux.Vars(r)["deviceId"], req.DisplayName); err != nil {
		return nil, deviceError(err)
	}
	return nil, nil
}

// deleteDevice is DELETE /v2/users/{userId}/devices/{deviceId}; an
// unknown device is no error, as Synapse.
func (s *Server) deleteDevice(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.existingUser(r)
	if err != nil {
		return nil, err
	}
	if err := s.users.DeleteDevices(r.Context(), user, []string{mux.Vars(r)["deviceId"]}); err != nil {
		return nil, userError(err)
	}
	return nil, nil
}

// joinedRooms is GET /v1/users/{userId}/joined_rooms.
func (s *Server) joinedRooms(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.existingUser(r)
	if err != nil {
		return nil, err
	}
	rooms, err := s.rooms.JoinedRooms(r.Context(), user)
	if err != nil {
		return nil, err
	}
	if rooms == nil {
		rooms = []string{}
	}
	return map[string]any{"joined_rooms": rooms, "total": len(rooms)}, nil
}

// usernameAvailable is GET /v1/username_available?username=.
func (s *Server) usernameAvailable(r *http.Request, _ *userapi.Device) (any, error) {
	local := r.URL.Query().Get("username")
	if local == "" {
		return nil, mxhttp.MissingParam("username is required")
	}
	user, err := spec.NewUserID("@"+local+":"+string(s.cfg.ServerName), true)
	if err != nil {
		return nil, mxhttp.InvalidUsername("Invalid username")
	}
	ok, err := s.users.UsernameAvailable(r.Context(), *user)
	if err != nil {
		return nil, userError(err)
	}
	if !ok {
		return nil, mxhttp.UserInUse("User ID already taken.")
	}
	return map[string]bool{"available": true}, nil
}
