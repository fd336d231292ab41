package clientapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// Limits on what clients choose; longer values are refused, not cut.
const (
	maxPasswordLength = 512
	maxDeviceIDLength = 255
)

// registerOp is the user-interactive auth of POST /register: without
// verification (m.login.dummy) where the config allows it, proving an
// e-mail address where an SMTP server is configured, and where recaptcha
// keys are configured a flow through m.login.recaptcha. Required e-mail
// or captcha leave only the flows that have them.
func (s *Server) registerOp() uiaOp {
	return s.withRegistrationToken(s.registerFlows())
}

// registerFlows are registerOp's flows without the registration token.
func (s *Server) registerFlows() uiaOp {
	op := uiaOp{name: "POST /register"}
	emailRequired := slices.Contains(s.cfg.RegistrationsRequire3PID, userapi.MediumEmail)
	if s.cfg.EnableRegistrationWithoutVerification && !emailRequired {
		op.flows = append(op.flows, []string{stageDummy})
	}
	if s.mailer != nil {
		op.flows = append(op.flows, []string{stageEmail})
	}
	rc := s.cfg.Recaptcha
	if rc.PrivateKey == "" || rc.SiteverifyAPI == "" {
		return op
	}
	captcha := []string{stageRecaptcha, stageDummy}
	if emailRequired {
		captcha = []string{stageRecaptcha, stageEmail}
	}
	if rc.Required {
		op.flows = [][]string{captcha}
	} else {
		op.flows = append(op.flows, captcha)
	}
	op.params = map[string]any{stageRecaptcha: map[string]string{"public_key": rc.PublicKey}}
	return op
}

// withRegistrationToken puts m.login.registration_token first in every
// flow when the config requires a token (registration_requires_token),
// as Synapse does; without any other flow, the token is the flow.
func (s *Server) withRegistrationToken(op uiaOp) uiaOp {
	if !s.cfg.RegistrationRequiresToken {
		return op
	}
	if len(op.flows) == 0 {
		op.flows = [][]string{{stageRegistrationToken}}
		return op
	}
	flows := make([][]string, len(op.flows))
	for i, f := range op.flows {
		flows[i] = append([]string{stageRegistrationToken}, f...)
	}
	op.flows = flows
	return op
}

type registerRequest struct {
	Username                 string  `json:"username"`
	Password                 string  `json:"password"`
	DeviceID                 string  `json:"device_id"`
	InitialDeviceDisplayName string  `json:"initial_device_display_name"`
	InhibitLogin             bool    `json:"inhibit_login"`
	RefreshToken             bool    `json:"refresh_token"`
	GuestAccessToken         *string `json:"guest_access_token"`
}

type registerResponse struct {
	UserID       string `json:"user_id"`
	AccessToken  string `json:"access_token,omitempty"`
	DeviceID     string `json:"device_id,omitempty"`
	HomeServer   string `json:"home_server"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresInMs  int64  `json:"expires_in_ms,omitempty"`
}

func newRegisterResponse(sess *userapi.Session) registerResponse {
	return registerResponse{
		UserID:       sess.UserID.String(),
		AccessToken:  sess.AccessToken,
		DeviceID:     sess.DeviceID,
		HomeServer:   string(sess.UserID.Domain()),
		RefreshToken: sess.RefreshToken,
		ExpiresInMs:  sess.ExpiresInMs,
	}
}

// register is POST /register.
func (s *Server) register(r *http.Request) (any, error) {
	var fields map[string]json.RawMessage
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &fields); err != nil {
		return nil, err
	}
	switch kind := r.URL.Query().Get("kind"); kind {
	case "", "user":
	case "guest":
		return s.registerGuest(r, fields)
	default:
		return nil, mxhttp.InvalidParam("kind must be user or guest")
	}
	if !s.cfg.EnableRegistration {
		return nil, mxhttp.Forbidden("Registration is disabled")
	}
	auth, err := parseAuth(fields["auth"])
	if err != nil {
		return nil, err
	}
	delete(fields, "auth")
	op := s.registerOp()
	sess, err := s.uia.session(r.Context(), auth.Session, op)
	if err != nil {
		return nil, err
	}
	// A retry of a finished registration gets the same answer.
	if sess.Result != nil {
		return sess.Result, nil
	}
	// Later rounds may send only auth; the first round's fields count.
	var params json.RawMessage
	if len(fields) > 0 {
		if params, err = json.Marshal(fields); err != nil {
			return nil, err
		}
	}
	var req registerRequest
	if params, err = s.uia.params(r.Context(), sess, params); err != nil {
		return nil, err
	}
	if params != nil {
		if err := mxhttp.Unmarshal(params, &req); err != nil {
			return nil, err
		}
	}
	// The spec wants these checks before user-interactive auth.
	var user *spec.UserID
	upgrade := req.GuestAccessToken != nil
	if upgrade {
		if user, err = s.guestToUpgrade(r, *req.GuestAccessToken, req.Username); err != nil {
			return nil, err
		}
	} else if req.Username != "" {
		if user, err = s.newLocalUser(strings.ToLower(req.Username)); err != nil {
			return nil, err
		}
		free, err := s.users.UsernameAvailable(r.Context(), *user)
		if err != nil {
			return nil, userError(err)
		}
		if !free {
			return nil, mxhttp.UserInUse("User ID already taken.")
		}
	}
	if len(req.Password) > maxPasswordLength {
		return nil, mxhttp.InvalidParam("Password is too long")
	}
	if req.Password != "" {
		if err := s.checkPasswordPolicy(req.Password); err != nil {
			return nil, err
		}
	}
	if len(req.DeviceID) > maxDeviceIDLength {
		return nil, mxhttp.InvalidParam("device_id is too long")
	}

	done, challenge, err := s.continueAuth(r.Context(), sess, auth, op)
	if !done {
		return challenge, err
	}
	if req.Password == "" {
		return nil, mxhttp.MissingParam("Missing password")
	}
	rr := userapi.RegisterRequest{
		Password:          req.Password,
		Kind:              userapi.KindUser,
		NoDevice:          req.InhibitLogin,
		DeviceID:          req.DeviceID,
		DeviceDisplayName: req.InitialDeviceDisplayName,
		RefreshToken:      req.RefreshToken,
	}
	if user != nil {
		rr.User = *user
	}
	var created *userapi.Session
	if upgrade {
		created, err = s.users.UpgradeGuest(r.Context(), rr)
	} else {
		created, err = s.users.Register(r.Context(), rr)
	}
	if err != nil {
		return nil, userError(err)
	}
	if slices.Contains(sess.Completed, stageRegistrationToken) {
		s.completeRegistrationToken(r.Context(), sess, created.UserID.String())
	}
	if sess.Email != nil {
		// The address was validated for this registration; someone may
		// have bound it meanwhile, which leaves the account without it.
		if err := s.users.AddThreePID(r.Context(), created.UserID, sess.Email.SID, sess.Email.ClientSecret); err != nil {
			slog.Warn("clientapi: binding the registration's address", "user_id", created.UserID.String(), "err", err)
		}
	}
	res := newRegisterResponse(created)
	if err := s.uia.setResult(r.Context(), sess, res); err != nil {
		return nil, err
	}
	return res, nil
}

// guestToUpgrade checks a guest_access_token: it must belong to a guest,
// and username must be that guest's localpart, as the spec's guest access
// module requires. It returns the guest's user id.
func (s *Server) guestToUpgrade(r *http.Request, token, username string) (*spec.UserID, error) {
	dev, err := s.users.VerifyAccessToken(r.Context(), token)
	if errors.Is(err, userapi.ErrUnknownToken) {
		return nil, mxhttp.Forbidden("Unknown guest_access_token")
	}
	if err != nil {
		return nil, err
	}
	if !dev.IsGuest {
		return nil, mxhttp.Forbidden("guest_access_token does not belong to a guest")
	}
	if username == "" {
		return nil, mxhttp.MissingParam("Upgrading a guest needs the guest's username")
	}
	if strings.ToLower(username) != dev.UserID.Local() {
		return nil, mxhttp.Forbidden("guest_access_token belongs to another user")
	}
	user := dev.UserID
	return &user, nil
}

// registerGuest is POST /register?kind=guest. The spec has the server
// ignore everything but initial_device_display_name.
func (s *Server) registerGuest(r *http.Request, fields map[string]json.RawMessage) (any, error) {
	if !s.cfg.AllowGuestAccess {
		return nil, mxhttp.Forbidden("Guest access is disabled")
	}
	var displayName string
	if raw, ok := fields["initial_device_display_name"]; ok {
		// A display name of the wrong type is ignored like the rest.
		_ = json.Unmarshal(raw, &displayName)
	}
	created, err := s.users.Register(r.Context(), userapi.RegisterRequest{Kind: userapi.KindGuest, DeviceDisplayName: displayName})
	if err != nil {
		return nil, userError(err)
	}
	return newRegisterResponse(created), nil
}

// registerAvailable is GET /register/available.
func (s *Server) registerAvailable(r *http.Request) (any, error) {
	username := r.URL.Query().Get("username")
	if username == "" {
		return nil, mxhttp.MissingParam("Missing username")
	}
	user, err := s.newLocalUser(strings.ToLower(username))
	if err != nil {
		return nil, err
	}
	free, err := s.users.UsernameAvailable(r.Context(), *user)
	if err != nil {
		return nil, userError(err)
	}
	if !free {
		return nil, mxhttp.UserInUse("User ID already taken.")
	}
	return map[string]bool{"available": true}, nil
}

// newLocalUser makes the user id for a localpart chosen at registration,
// or answers M_INVALID_USERNAME.
func (s *Server) newLocalUser(localpart string) (*spec.UserID, error) {
	if err := userapi.ValidateLocalpart(localpart, s.cfg.ServerName); err != nil {
		return nil, userError(err)
	}
	// ValidateLocalpart allows "+", which the parser's current grammar lacks.
	user, err := spec.NewUserID("@"+localpart+":"+string(s.cfg.ServerName), true)
	if err != nil {
		return nil, mxhttp.InvalidUsername(err.Error())
	}
	return user, nil
}

// threepidDenied answers the msisdn requestToken endpoints: the server
// sends no SMS, so it cannot validate phone numbers.
func (s *Server) threepidDenied(r *http.Request) (any, error) {
	var body map[string]json.RawMessage
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	return nil, &mxhttp.Error{Status: http.StatusForbidden, Code: "M_THREEPID_DENIED", Msg: "This server cannot validate phone numbers"}
}
