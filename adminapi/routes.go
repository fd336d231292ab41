package adminapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// Routes mounts the admin API on r under /_synapse/admin. The
// shared-secret registration (/_synapse/admin/v1/register) stays with the
// client API, which owns the nonces.
func (s *Server) Routes(r *mux.Router) {
	a := r.PathPrefix("/_synapse/admin").Subrouter()
	// Synapse answers the version without authentication (synapse-admin
	// shows it before logging in).
	a.Handle("/v1/server_version", mxhttp.Handler(s.serverVersion)).Methods(http.MethodGet)
	a.Handle("/v1/audit_log", s.read(s.auditLog)).Methods(http.MethodGet)
	// Users
	a.Handle("/v2/users", s.read(s.listUsers)).Methods(http.MethodGet)
	a.Handle("/v2/users/{userId}", s.read(s.getUser)).Methods(http.MethodGet)
	a.Handle("/v2/users/{userId}", s.act("user.modify", s.putUser)).Methods(http.MethodPut)
	a.Handle("/v1/deactivate/{userId}", mxhttp.EmptyBodyIsObject(s.act("user.deactivate", s.deactivate))).Methods(http.MethodPost)
	a.Handle("/v1/reset_password/{userId}", s.act("user.reset_password", s.resetPassword)).Methods(http.MethodPost)
	a.Handle("/v1/users/{userId}/admin", s.read(s.userAdmin)).Methods(http.MethodGet)
	a.Handle("/v1/users/{userId}/admin", s.act("user.set_admin", s.setUserAdmin)).Methods(http.MethodPut)
	// whois shows where a user connects from: it is audited.
	a.Handle("/v1/whois/{userId}", s.act("user.whois", s.whois)).Methods(http.MethodGet)
	a.Handle("/v2/users/{userId}/devices", s.read(s.listDevices)).Methods(http.MethodGet)
	a.Handle("/v2/users/{userId}/devices", s.act("device.create", s.createDevice)).Methods(http.MethodPost)
	a.Handle("/v2/users/{userId}/delete_devices", s.act("device.delete_many", s.deleteDevices)).Methods(http.MethodPost)
	a.Handle("/v2/users/{userId}/devices/{deviceId}", s.read(s.getDevice)).Methods(http.MethodGet)
	a.Handle("/v2/users/{userId}/devices/{deviceId}", s.act("device.modify", s.putDevice)).Methods(http.MethodPut)
	a.Handle("/v2/users/{userId}/devices/{deviceId}", s.act("device.delete", s.deleteDevice)).Methods(http.MethodDelete)
	a.Handle("/v1/users/{userId}/joined_rooms", s.read(s.joinedRooms)).Methods(http.MethodGet)
	a.Handle("/v1/users/{userId}/export", s.exportRoute()).Methods(http.MethodPost)
	a.Handle("/v1/username_available", s.read(s.usernameAvailable)).Methods(http.MethodGet)
	s.userExtraRoutes(a)
	// Rooms
	a.Handle("/v1/rooms", s.read(s.listRooms)).Methods(http.MethodGet)
	a.Handle("/v1/rooms/{roomId}", s.read(s.getRoom)).Methods(http.MethodGet)
	a.Handle("/v1/rooms/{roomId}/members", s.read(s.roomMembers)).Methods(http.MethodGet)
	a.Handle("/v1/rooms/{roomId}/state", s.read(s.roomState)).Methods(http.MethodGet)
	a.Handle("/v1/rooms/{roomId}/block", s.read(s.getRoomBlock)).Methods(http.MethodGet)
	a.Handle("/v1/rooms/{roomId}/block", s.act("room.block", s.putRoomBlock)).Methods(http.MethodPut)
	s.roomRoutes(a)
	s.mediaRoutes(a)
	// Reports
	a.Handle("/v1/event_reports", s.read(s.listEventReports)).Methods(http.MethodGet)
	a.Handle("/v1/event_reports/{reportId}", s.read(s.getEventReport)).Methods(http.MethodGet)
	a.Handle("/v1/event_reports/{reportId}", s.act("report.delete", s.deleteEventReport)).Methods(http.MethodDelete)
	// Registration tokens ("new" before {token}: it is not a token).
	a.Handle("/v1/registration_tokens", s.read(s.listRegistrationTokens)).Methods(http.MethodGet)
	a.Handle("/v1/registration_tokens/new", mxhttp.EmptyBodyIsObject(s.act("registration_token.create", s.newRegistrationToken))).Methods(http.MethodPost)
	a.Handle("/v1/registration_tokens/{token}", s.read(s.getRegistrationToken)).Methods(http.MethodGet)
	a.Handle("/v1/registration_tokens/{token}", mxhttp.EmptyBodyIsObject(s.act("registration_token.modify", s.putRegistrationToken))).Methods(http.MethodPut)
	a.Handle("/v1/registration_tokens/{token}", s.act("registration_token.delete", s.deleteRegistrationToken)).Methods(http.MethodDelete)
	s.bundesMessengerRoutes(a)
}

func (s *Server) serverVersion(*http.Request) (any, error) {
	return map[string]string{"server_version": serverVersion()}, nil
}
