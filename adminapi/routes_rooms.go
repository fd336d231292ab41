package adminapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// roomRoutes are the room operations beyond the room list: delete and
// purge, history, membership by admin, server notices and federation
// destinations.
func (s *Server) roomRoutes(a *mux.Router) {
	a.Handle("/v2/rooms/delete_status/{deleteId}", s.read(s.deleteStatusByID)).Methods(http.MethodGet)
	a.Handle("/v2/rooms/{roomId}/delete_status", s.read(s.deleteStatusByRoom)).Methods(http.MethodGet)
	a.Handle("/v2/rooms/{roomId}", mxhttp.EmptyBodyIsObject(s.act("room.delete", s.deleteRoom))).Methods(http.MethodDelete)
	a.Handle("/v1/rooms/{roomId}", mxhttp.EmptyBodyIsObject(s.act("room.delete", s.deleteRoomV1))).Methods(http.MethodDelete)
	a.Handle("/v1/rooms/{roomId}/delete", mxhttp.EmptyBodyIsObject(s.act("room.delete", s.deleteRoomV1))).Methods(http.MethodPost)
}
