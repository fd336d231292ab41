package clientapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
)

// spaceHierarchy is GET /_matrix/client/v1/rooms/{roomId}/hierarchy.
func (s *Server) spaceHierarchy(r *http.Request, dev *userapi.Device) (any, error) {
	q := r.URL.Query()
	req := roomserver.HierarchyRequest{Requester: dev.UserID, RoomID: mux.Vars(r)["roomId"], From: q.Get("from")}
	switch q.Get("suggested_only") {
	case "", "false":
	case "true":
		req.SuggestedOnly = true
	default:
		return nil, mxhttp.InvalidParam("suggested_only must be true or false")
	}
	for name, dst := range map[string]*int{"limit": &req.Limit, "max_depth": &req.MaxDepth} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || (name == "limit" && n == 0) {
			return nil, mxhttp.InvalidParam(name + " must be a positive integer")
		}
		*dst = n
		if name == "max_depth" && n == 0 {
			// Only the room itself.
			*dst = -1
		}
	}
	res, err := s.rooms.SpaceHierarchy(r.Context(), req)
	switch {
	case errors.Is(err, roomserver.ErrBadPagination):
		return nil, mxhttp.InvalidParam(err.Error())
	case errors.Is(err, roomserver.ErrForbidden), errors.Is(err, roomserver.ErrRoomNotFound):
		return nil, mxhttp.Forbidden("You cannot see this room")
	case err != nil:
		return nil, err
	}
	out := map[string]any{"rooms": res.Rooms}
	if res.Rooms == nil {
		out["rooms"] = []any{}
	}
	if res.NextBatch != "" {
		out["next_batch"] = res.NextBatch
	}
	return out, nil
}
