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
	a.Handle("/v1/purge_history/{roomId}", s.act("room.purge_history", s.purgeHistory)).Methods(http.MethodPost)
	a.Handle("/v1/purge_history/{roomId}/{eventId}", mxhttp.EmptyBodyIsObject(s.act("room.purge_history", s.purgeHistory))).Methods(http.MethodPost)
	a.Handle("/v1/purge_history_status/{purgeId}", s.read(s.purgeHistoryStatus)).Methods(http.MethodGet)
	a.Handle("/v1/rooms/{roomId}/messages", s.read(s.roomMessages)).Methods(http.MethodGet)
	a.Handle("/v1/rooms/{roomId}/context/{eventId}", s.read(s.roomContext)).Methods(http.MethodGet)
	a.Handle("/v1/rooms/{roomId}/forward_extremities", s.read(s.forwardExtremities)).Methods(http.MethodGet)
	a.Handle("/v1/rooms/{roomId}/forward_extremities", s.act("room.forward_extremities.delete", s.dropForwardExtremities)).Methods(http.MethodDelete)
	a.Handle("/v1/rooms/{roomIdOrAlias}/make_room_admin", mxhttp.EmptyBodyIsObject(s.act("room.make_room_admin", s.makeRoomAdmin))).Methods(http.MethodPost)
	a.Handle("/v1/join/{roomIdOrAlias}", s.act("room.join_user", s.joinUser)).Methods(http.MethodPost)
	a.Handle("/v1/send_server_notice", s.act("server_notice.send", s.sendServerNotice)).Methods(http.MethodPost)
	a.Handle("/v1/send_server_notice/{txnId}", s.act("server_notice.send", s.sendServerNotice)).Methods(http.MethodPut)
	a.Handle("/v1/federation/destinations", s.read(s.listDestinations)).Methods(http.MethodGet)
	a.Handle("/v1/federation/destinations/{destination}", s.read(s.getDestination)).Methods(http.MethodGet)
	a.Handle("/v1/federation/destinations/{destination}/rooms", s.read(s.destinationRooms)).Methods(http.MethodGet)
	a.Handle("/v1/federation/destinations/{destination}/reset_connection", mxhttp.EmptyBodyIsObject(s.act("federation.reset_connection", s.resetDestination))).Methods(http.MethodPost)
}
