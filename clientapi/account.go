package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// whoami is GET /account/whoami.
func (s *Server) whoami(r *http.Request, dev *userapi.Device) (any, error) {
	return map[string]any{
		"user_id":   dev.UserID.String(),
		"device_id": dev.ID,
		"is_guest":  dev.IsGuest,
	}, nil
}

type passwordRequest struct {
	Auth          json.RawMessage `json:"auth"`
	NewPassword   string          `json:"new_password"`
	LogoutDevices *bool           `json:"logout_devices"`
}

// changePassword is POST /account/password.
func (s *Server) changePassword(r *http.Request, dev *userapi.Device) (any, error) {
	if !s.cfg.PasswordConfig.PasswordReauth() {
		// password_config.enabled: false: accounts have no passwords.
		return nil, mxhttp.Forbidden("Password change is disabled on this server")
	}
	var req passwordRequest
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	auth, err := parseAuth(req.Auth)
	if err != nil {
		return nil, err
	}
	if req.NewPassword == "" {
		return nil, mxhttp.MissingParam("Missing new_password")
	}
	if len(req.NewPassword) > maxPasswordLength {
		return nil, mxhttp.InvalidParam("Password is too long")
	}
	if err := s.checkPasswordPolicy(req.NewPassword); err != nil {
		return nil, err
	}
	op := uiaOp{name: "POST /account/password", user: &dev.UserID, flows: s.reauthFlows(r.Context(), dev.UserID)}
	if done, challenge, err := s.interactiveAuth(r.Context(), auth, op); !done {
		return challenge, err
	}
	logout := req.LogoutDevices == nil || *req.LogoutDevices
	if err := s.users.SetPassword(r.Context(), dev.UserID, req.NewPassword, logout, dev.ID); err != nil {
		return nil, userError(err)
	}
	return struct{}{}, nil
}

type deactivateRequest struct {
	Auth     json.RawMessage `json:"auth"`
	IDServer string          `json:"id_server"`
	Erase    bool            `json:"erase"`
}

// deactivate is POST /account/deactivate. Leaving the user's rooms is
// onDeactivate's job.
func (s *Server) deactivate(r *http.Request, dev *userapi.Device) (any, error) {
	var req deactivateRequest
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	auth, err := parseAuth(req.Auth)
	if err != nil {
		return nil, err
	}
	op := uiaOp{name: "POST /account/deactivate", user: &dev.UserID, flows: s.reauthFlows(r.Context(), dev.UserID)}
	if done, challenge, err := s.interactiveAuth(r.Context(), auth, op); !done {
		return challenge, err
	}
	// Erase first: once deactivated, the account's events must already
	// be served redacted to newcomers.
	if req.Erase {
		if err := s.users.Erase(r.Context(), dev.UserID); err != nil {
			return nil, userError(err)
		}
	}
	if err := s.users.Deactivate(r.Context(), dev.UserID); err != nil {
		return nil, userError(err)
	}
	if s.onDeactivate != nil {
		s.onDeactivate(r.Context(), dev.UserID)
	}
	// Addresses were never bound at an identity server, so none is asked
	// to unbind them; the account's own bindings went with it.
	return map[string]string{"id_server_unbind_result": "no-support"}, nil
}

// password is POST /account/password: a logged-in user changes the
// password; without an access token, proving the account's e-mail
// address resets it.
func (s *Server) password(r *http.Request) (any, error) {
	if userapi.AccessToken(r) != "" {
		return s.noGuests(s.changePassword)(r)
	}
	return s.resetPassword(r)
}

// resetPassword sets the password of the account whose address the
// client validated, and logs out its devices unless asked not to.
func (s *Server) resetPassword(r *http.Request) (any, error) {
	var req passwordRequest
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	auth, err := parseAuth(req.Auth)
	if err != nil {
		return nil, err
	}
	if s.mailer == nil {
		return nil, mxhttp.MissingToken("Missing access token")
	}
	if req.NewPassword == "" {
		return nil, mxhttp.MissingParam("Missing new_password")
	}
	if len(req.NewPassword) > maxPasswordLength {
		return nil, mxhttp.InvalidParam("Password is too long")
	}
	if err := s.checkPasswordPolicy(req.NewPassword); err != nil {
		return nil, err
	}
	op := uiaOp{name: "POST /account/password (reset)", flows: [][]string{{stageEmail}}}
	sess, err := s.uia.session(r.Context(), auth.Session, op)
	if err != nil {
		return nil, err
	}
	if done, challenge, err := s.continueAuth(r.Context(), sess, auth, op); !done {
		return challenge, err
	}
	t, err := s.users.ValidatedThreePID(r.Context(), sess.Email.SID, sess.Email.ClientSecret)
	if err != nil {
		return nil, userError(err)
	}
	user, err := s.users.ThreePIDOwner(r.Context(), t.Medium, t.Address)
	if errors.Is(err, userapi.ErrNotFound) {
		return nil, &mxhttp.Error{Status: http.StatusBadRequest, Code: "M_THREEPID_NOT_FOUND", Msg: "No account has this address"}
	}
	if err != nil {
		return nil, err
	}
	logout := req.LogoutDevices == nil || *req.LogoutDevices
	if err := s.users.SetPassword(r.Context(), user, req.NewPassword, logout, ""); err != nil {
		return nil, userError(err)
	}
	return struct{}{}, nil
}
