package clientapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// noGuests authenticates like userapi.Authed and turns guests away, for
// the endpoints the spec's guest access module does not list.
func (s *Server) noGuests(h func(*http.Request, *userapi.Device) (any, error)) mxhttp.Handler {
	return userapi.Authed(s.users, func(r *http.Request, dev *userapi.Device) (any, error) {
		if dev.IsGuest {
			return nil, mxhttp.GuestAccess("Guest users may not use this endpoint")
		}
		return h(r, dev)
	})
}

// pathUser parses the {userId} of the request path; a malformed one is
// M_INVALID_PARAM.
func pathUser(r *http.Request) (spec.UserID, error) {
	raw := mux.Vars(r)["userId"]
	user, err := spec.NewUserID(raw, true)
	if err != nil {
		return spec.UserID{}, mxhttp.InvalidParam("Invalid user ID " + raw)
	}
	return *user, nil
}

// ownPathUser is pathUser for endpoints where users may only act for
// themselves.
func ownPathUser(r *http.Request, dev *userapi.Device, action string) (spec.UserID, error) {
	user, err := pathUser(r)
	if err != nil {
		return user, err
	}
	if user != dev.UserID {
		return user, mxhttp.Forbidden("Cannot " + action + " for other users")
	}
	return user, nil
}
