package clientapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

const (
	loginTypePassword = "m.login.password"
	loginTypeToken    = "m.login.token"
	loginTypeSSO      = "m.login.sso"
)

// userIdentifier is the spec's identifier object of login and
// m.login.password auth.
type userIdentifier struct {
	Type    string `json:"type"`
	User    string `json:"user"`
	Medium  string `json:"medium"`
	Address string `json:"address"`
	Country string `json:"country"`
	Phone   string `json:"phone"`
}

type loginRequest struct {
	Type       string          `json:"type"`
	Identifier *userIdentifier `json:"identifier"`
	// User, Medium and Address are the deprecated forms of Identifier.
	User                     string `json:"user"`
	Medium                   string `json:"medium"`
	Address                  string `json:"address"`
	Password                 string `json:"password"`
	Token                    string `json:"token"`
	DeviceID                 string `json:"device_id"`
	InitialDeviceDisplayName string `json:"initial_device_display_name"`
	RefreshToken             bool   `json:"refresh_token"`
}

type loginResponse struct {
	UserID       string `json:"user_id"`
	AccessToken  string `json:"access_token"`
	DeviceID     string `json:"device_id"`
	HomeServer   string `json:"home_server"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresInMs  int64  `json:"expires_in_ms,omitempty"`
}

func newLoginResponse(sess *userapi.Session) loginResponse {
	return loginResponse{
		UserID:       sess.UserID.String(),
		AccessToken:  sess.AccessToken,
		DeviceID:     sess.DeviceID,
		HomeServer:   string(sess.UserID.Domain()),
		RefreshToken: sess.RefreshToken,
		ExpiresInMs:  sess.ExpiresInMs,
	}
}

// loginFlow is one entry of GET /login's flows.
type loginFlow struct {
	Type string `json:"type"`
	// IdentityProviders are m.login.sso's providers.
	IdentityProviders []identityProvider `json:"identity_providers,omitempty"`
}

// loginFlows is GET /login. Only what is implemented and enabled is
// offered.
func (s *Server) loginFlows(r *http.Request) (any, error) {
	var flows []loginFlow
	if s.cfg.PasswordConfig.PasswordLogin() {
		flows = append(flows, loginFlow{Type: loginTypePassword})
	}
	if s.ssoEnabled() {
		flows = append(flows, loginFlow{Type: loginTypeSSO, IdentityProviders: s.identityProviders()}, loginFlow{Type: loginTypeToken})
	}
	return map[string]any{"flows": flows}, nil
}

// login is POST /login.
func (s *Server) login(r *http.Request) (any, error) {
	var req loginRequest
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	if req.Type == loginTypeToken && s.ssoEnabled() {
		return s.loginWithToken(r, &req)
	}
	// password_config.enabled other than true: logins go through single
	// sign-on, and a password login is an unknown type, as in Synapse.
	if req.Type != loginTypePassword || !s.cfg.PasswordConfig.PasswordLogin() {
		return nil, mxhttp.Unknown("Bad login type.")
	}
	id := req.Identifier
	if id == nil {
		id = &userIdentifier{Type: "m.id.user", User: req.User}
		if req.User == "" && (req.Medium != "" || req.Address != "") {
			id = &userIdentifier{Type: "m.id.thirdparty", Medium: req.Medium, Address: req.Address}
		}
	}
	user, err := s.identifiedUser(r.Context(), id, "")
	if err != nil {
		return nil, err
	}
	if len(req.DeviceID) > maxDeviceIDLength {
		return nil, mxhttp.InvalidParam("device_id is too long")
	}
	if err := s.limitLoginAccount(r.Context(), user); err != nil {
		return nil, err
	}
	sess, err := s.users.LoginPassword(r.Context(), userapi.LoginRequest{
		User:              user,
		Password:          req.Password,
		DeviceID:          req.DeviceID,
		DeviceDisplayName: req.InitialDeviceDisplayName,
		RefreshToken:      req.RefreshToken,
	})
	if err != nil {
		s.loginFailed(r.Context(), user, err)
		return nil, userError(err)
	}
	return newLoginResponse(sess), nil
}

// identifiedUser resolves an identifier (or, with id nil, the legacy
// "user" field) to a local user id. A localpart or full user id is
// matched case-insensitively, as registration lower-cases it.
func (s *Server) identifiedUser(ctx context.Context, id *userIdentifier, legacyUser string) (spec.UserID, error) {
	if id == nil {
		if legacyUser == "" {
			return spec.UserID{}, mxhttp.MissingParam("Missing identifier")
		}
		id = &userIdentifier{Type: "m.id.user", User: legacyUser}
	}
	switch id.Type {
	case "m.id.user":
	case "m.id.thirdparty":
		return s.threePIDUser(ctx, id.Medium, id.Address)
	case "m.id.phone":
		// No account has a phone number.
		return spec.UserID{}, mxhttp.Forbidden("Invalid username or password")
	default:
		return spec.UserID{}, mxhttp.Unknown("Unknown identifier type")
	}
	name := id.User
	if name == "" {
		return spec.UserID{}, mxhttp.MissingParam("Missing user in identifier")
	}
	if !strings.HasPrefix(name, "@") {
		name = "@" + name + ":" + string(s.cfg.ServerName)
	}
	user, err := spec.NewUserID(name, true)
	if err != nil {
		if strings.HasPrefix(id.User, "@") {
			return spec.UserID{}, mxhttp.InvalidParam("Invalid user ID")
		}
		// A localpart that cannot be part of a user id has no account.
		return spec.UserID{}, mxhttp.Forbidden("Invalid username or password")
	}
	if !s.isLocalServer(user.Domain()) {
		return spec.UserID{}, mxhttp.Forbidden("Invalid username or password")
	}
	lower, err := spec.NewUserID("@"+strings.ToLower(user.Local())+":"+string(user.Domain()), true)
	if err != nil {
		return spec.UserID{}, mxhttp.InvalidParam("Invalid user ID")
	}
	return *lower, nil
}

// threePIDUser is the account an address is bound to. An unknown address
// fails like a wrong password, so that logins do not reveal addresses.
func (s *Server) threePIDUser(ctx context.Context, medium, address string) (spec.UserID, error) {
	if medium == "" || address == "" {
		return spec.UserID{}, mxhttp.MissingParam("A third-party identifier needs medium and address")
	}
	if medium == userapi.MediumEmail {
		canonical, err := userapi.CanonicalEmail(address)
		if err != nil {
			return spec.UserID{}, mxhttp.Forbidden("Invalid username or password")
		}
		address = canonical
	}
	user, err := s.users.ThreePIDOwner(ctx, medium, address)
	if errors.Is(err, userapi.ErrNotFound) {
		return spec.UserID{}, mxhttp.Forbidden("Invalid username or password")
	}
	return user, err
}

// loginWithToken is POST /login with m.login.token.
func (s *Server) loginWithToken(r *http.Request, req *loginRequest) (any, error) {
	if req.Token == "" {
		return nil, mxhttp.MissingParam("token is required")
	}
	if len(req.DeviceID) > maxDeviceIDLength {
		return nil, mxhttp.InvalidParam("device_id is too long")
	}
	sess, err := s.users.LoginToken(r.Context(), req.Token, req.DeviceID, req.InitialDeviceDisplayName, req.RefreshToken)
	if errors.Is(err, userapi.ErrUnknownToken) {
		return nil, mxhttp.Forbidden("Invalid or expired login token")
	}
	if err != nil {
		return nil, userError(err)
	}
	return newLoginResponse(sess), nil
}

// refresh is POST /refresh: a refresh token buys the device a new access
// token and a new refresh token. An unknown or spent refresh token is a
// soft logout, as the spec's example has it: the client logs in again.
func (s *Server) refresh(r *http.Request) (any, error) {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	if req.RefreshToken == "" {
		return nil, mxhttp.MissingParam("refresh_token is required")
	}
	sess, err := s.users.Refresh(r.Context(), req.RefreshToken)
	switch {
	case errors.Is(err, userapi.ErrUnknownToken):
		return nil, &mxhttp.Error{Status: http.StatusUnauthorized, Code: "M_UNKNOWN_TOKEN",
			Msg: "Unknown or used refresh token", Extra: map[string]any{"soft_logout": true}}
	case errors.Is(err, userapi.ErrLocked):
		return nil, &mxhttp.Error{Status: http.StatusUnauthorized, Code: "M_USER_LOCKED",
			Msg: "This account has been locked", Extra: map[string]any{"soft_logout": true}}
	case err != nil:
		return nil, userError(err)
	}
	return map[string]any{"access_token": sess.AccessToken, "refresh_token": sess.RefreshToken, "expires_in_ms": sess.ExpiresInMs}, nil
}
