package clientapi

import (
	"context"
	"log/slog"
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

// removeGuests makes this server's guests leave a room that no longer
// admits guests, as the spec's guest access module requires. Each guest
// leaves by their own member event, which the room's rules always allow.
// Guests of other servers are their servers' business.
func (s *Server) removeGuests(ctx context.Context, roomID string) {
	members, err := s.rooms.JoinedMembers(ctx, roomID)
	if err != nil {
		slog.Warn("guest access revoked: members", "room_id", roomID, "err", err)
		return
	}
	for id := range members {
		user, err := spec.NewUserID(id, true)
		if err != nil || !s.isLocalServer(user.Domain()) {
			continue
		}
		acc, err := s.users.Account(ctx, *user)
		if err != nil || !acc.IsGuest {
			continue
		}
		if _, err := s.sendMember(ctx, roomID, *user, *user, map[string]any{"membership": spec.Leave}); err != nil {
			slog.Warn("guest access revoked: guest stays", "room_id", roomID, "user", id, "err", err)
		}
	}
}
