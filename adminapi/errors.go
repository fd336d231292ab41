package adminapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// userError maps the user API's errors to Matrix errors.
func userError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, userapi.ErrNotFound):
		return mxhttp.NotFound("User not found")
	case errors.Is(err, userapi.ErrUserInUse):
		return mxhttp.UserInUse("User ID already taken.")
	case errors.Is(err, userapi.ErrInvalidUsername):
		return mxhttp.InvalidUsername(strings.TrimPrefix(err.Error(), userapi.ErrInvalidUsername.Error()+": "))
	case errors.Is(err, userapi.ErrDeactivated):
		return mxhttp.InvalidParam("The account is deactivated")
	}
	return err
}

// localUser reads the path's {userId}: a malformed id is 400
// M_INVALID_PARAM, another server's user 400 (only local users can be
// administered).
func (s *Server) localUser(r *http.Request) (spec.UserID, error) {
	raw := mux.Vars(r)["userId"]
	u, err := spec.NewUserID(raw, true)
	if err != nil {
		return spec.UserID{}, mxhttp.InvalidParam("Not a valid user ID: " + raw)
	}
	if !s.isLocal(u.Domain()) {
		return spec.UserID{}, mxhttp.InvalidParam("Can only administer local users")
	}
	return *u, nil
}

func (s *Server) isLocal(d spec.ServerName) bool { return s.cfg.IsLocal(d) }
