package clientapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
)

// roomSummary is GET /_matrix/client/v1/room_summary/{roomIdOrAlias}
// (MSC3266, spec v1.15). A token is optional: without one the caller
// sees what anyone may (world-readable rooms, rooms open to join or
// knock). Rooms only other servers know need federation and are not
// found for now.
func (s *Server) roomSummary(r *http.Request) (any, error) {
	user := ""
	if userapi.AccessToken(r) != "" {
		dev, err := userapi.Authenticate(s.users, r)
		if err != nil {
			return nil, err
		}
		user = dev.UserID.String()
	}
	target := mux.Vars(r)["roomIdOrAlias"]
	roomID := target
	switch {
	case strings.HasPrefix(target, "#"):
		id, err := s.rooms.ResolveAlias(r.Context(), target)
		if errors.Is(err, roomserver.ErrAliasNotFound) {
			return nil, mxhttp.NotFound("Room not found")
		}
		if err != nil {
			return nil, err
		}
		roomID = id
	case !strings.HasPrefix(target, "!"):
		return nil, mxhttp.InvalidParam("not a room id or alias")
	}
	summary, err := s.rooms.DescribeRoom(r.Context(), roomID, user)
	if errors.Is(err, roomserver.ErrRoomNotFound) {
		return nil, mxhttp.NotFound("Room not found")
	}
	if err != nil {
		return nil, err
	}
	return summary, nil
}
