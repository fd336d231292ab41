package clientapi

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// SetRoomBlocked installs the admin API's question whether a room is
// blocked (PUT /_synapse/admin/v1/rooms/{roomId}/block); local users
// cannot join blocked rooms. Unset, no room is blocked.
func (s *Server) SetRoomBlocked(f func(ctx context.Context, roomID string) (bool, error)) {
	s.roomBlocked = f
}

// notBlocked wraps the join endpoints: a join of a blocked room is 403
// M_FORBIDDEN, before anything else is done.
func (s *Server) notBlocked(h func(*http.Request, *userapi.Device) (any, error)) func(*http.Request, *userapi.Device) (any, error) {
	return func(r *http.Request, dev *userapi.Device) (any, error) {
		if s.roomBlocked == nil {
			return h(r, dev)
		}
		v := mux.Vars(r)
		target := v["roomIdOrAlias"]
		if target == "" {
			target = v["roomId"]
		}
		roomID, _, err := s.resolveRoomWithServers(r.Context(), target)
		if err != nil {
			return nil, err
		}
		blocked, err := s.roomBlocked(r.Context(), roomID)
		if err != nil {
			return nil, err
		}
		if blocked {
			return nil, mxhttp.Forbidden("This room has been blocked on this server")
		}
		return h(r, dev)
	}
}
