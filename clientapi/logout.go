package clientapi

import (
	"net/http"

	"github.com/rohrpost/rohrpost/userapi"
)

// logout is POST /logout: the calling device and its token go away.
func (s *Server) logout(r *http.Request, dev *userapi.Device) (any, error) {
	if err := s.users.Logout(r.Context(), dev); err != nil {
		return nil, userError(err)
	}
	return struct{}{}, nil
}

// logoutAll is POST /logout/all: every device of the user goes away.
func (s *Server) logoutAll(r *http.Request, dev *userapi.Device) (any, error) {
	if err := s.users.LogoutAll(r.Context(), dev.UserID); err != nil {
		return nil, userError(err)
	}
	return struct{}{}, nil
}
