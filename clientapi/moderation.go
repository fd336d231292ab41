package clientapi

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// Account locking and suspension (spec v1.12 and v1.13; the admin
// endpoints below are v1.18's). Locking is enforced where tokens are
// checked (userapi.Authenticate). A suspended user keeps reading, leaving,
// redacting their own events, managing devices and keys; what they may
// not do is the spec's recommended list: join, knock, invite (or kick and
// ban), send messages and state, change their profile, and redact other
// users' events. Creating and upgrading rooms, and publishing aliases,
// are the same kind of action and are refused too.

func errSuspended() error {
	return &mxhttp.Error{Status: http.StatusForbidden, Code: "M_USER_SUSPENDED", Msg: "You cannot perform this action while suspended."}
}

// active is auth for the endpoints a suspended user may not use at all.
func (s *Server) active(h func(*http.Request, *userapi.Device) (any, error)) mxhttp.Handler {
	return userapi.Authed(s.users, func(r *http.Request, dev *userapi.Device) (any, error) {
		if dev.Suspended {
			return nil, errSuspended()
		}
		return h(r, dev)
	})
}

// adminModeration serves GET and PUT /_matrix/client/v1/admin/{lock,
// suspend}/{userId}: field is "locked" or "suspended".
func (s *Server) adminModeration(field string) func(*http.Request, *userapi.Device) (any, error) {
	return func(r *http.Request, dev *userapi.Device) (any, error) {
		if !dev.IsAdmin {
			return nil, mxhttp.Forbidden("You are not a server administrator")
		}
		target, err := spec.NewUserID(mux.Vars(r)["userId"], true)
		if err != nil {
			return nil, mxhttp.InvalidParam("Invalid user ID")
		}
		if !s.cfg.IsLocal(target.Domain()) {
			return nil, mxhttp.InvalidParam(target.String() + " is not a user of this server")
		}
		if r.Method == http.MethodGet {
			m, err := s.users.AccountModeration(r.Context(), *target)
			if err != nil {
				return nil, userError(err)
			}
			return moderationAnswer(field, m), nil
		}
		var body map[string]json.RawMessage
		if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
			return nil, err
		}
		var value *bool
		if raw, ok := body[field]; !ok || json.Unmarshal(raw, &value) != nil || value == nil {
			return nil, mxhttp.BadJSON(field + " must be true or false")
		}
		if *target == dev.UserID {
			return nil, mxhttp.Forbidden("You cannot change this for your own account")
		}
		acc, err := s.users.Account(r.Context(), *target)
		if err != nil {
			return nil, userError(err)
		}
		if acc.IsAdmin {
			return nil, mxhttp.Forbidden("You cannot change this for another administrator")
		}
		var locked, suspended *bool
		if field == "locked" {
			locked = value
		} else {
			suspended = value
		}
		m, err := s.users.SetAccountModeration(r.Context(), *target, locked, suspended)
		if err != nil {
			return nil, userError(err)
		}
		return moderationAnswer(field, m), nil
	}
}

func moderationAnswer(field string, m *userapi.AccountModeration) map[string]bool {
	if field == "locked" {
		return map[string]bool{field: m.Locked}
	}
	return map[string]bool{field: m.Suspended}
}
