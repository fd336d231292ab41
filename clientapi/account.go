package clientapi

import (
	"encoding/json"
	"net/http"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// passwordFlows is the user-interactive auth that proves the caller knows
// the account's password.
var passwordFlows = [][]string{{stagePassword}}

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
	op := uiaOp{name: "POST /account/password", user: &dev.UserID, flows: passwordFlows}
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
	op := uiaOp{name: "POST /account/deactivate", user: &dev.UserID, flows: passwordFlows}
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
	// No 3PIDs were ever bound, so there is nothing to unbind.
	return map[string]string{"id_server_unbind_result": "no-support"}, nil
}

// threepids is GET /account/3pid. Accounts have no third-party
// identifiers on this server.
func (s *Server) threepids(r *http.Request, dev *userapi.Device) (any, error) {
	return map[string]any{"threepids": []any{}}, nil
}

// passwordResetToken answers the requestToken endpoints of password
// reset: no account has an email address or phone number.
func (s *Server) passwordResetToken(r *http.Request) (any, error) {
	var body map[string]json.RawMessage
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	return nil, &mxhttp.Error{Status: http.StatusBadRequest, Code: "M_THREEPID_NOT_FOUND", Msg: "No account has this third-party identifier"}
}
