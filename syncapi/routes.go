package syncapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// Routes mounts the sync API's client endpoints.
func (s *Server) Routes(r *mux.Router) {
	auth := func(h func(*http.Request, *userapi.Device) (any, error)) mxhttp.Handler {
		return userapi.Authed(s.users, h)
	}
	for _, v := range []string{"r0", "v3"} {
		c := r.PathPrefix("/_matrix/client/" + v).Subrouter()
		c.Handle("/sync", auth(s.handleSync)).Methods(http.MethodGet)
		c.Handle("/events", auth(s.handleEvents)).Methods(http.MethodGet)
		c.Handle("/search", auth(s.handleSearch)).Methods(http.MethodPost)
		c.Handle("/notifications", auth(s.handleNotifications)).Methods(http.MethodGet)
		c.Handle("/sendToDevice/{eventType}/{txnId}", auth(s.handleSendToDevice)).Methods(http.MethodPut)
		c.Handle("/keys/changes", auth(s.handleKeyChanges)).Methods(http.MethodGet)
		c.Handle("/rooms/{roomId}/event/{eventId}", auth(s.handleEvent)).Methods(http.MethodGet)
		c.Handle("/rooms/{roomId}/members", auth(s.handleMembers)).Methods(http.MethodGet)
		c.Handle("/rooms/{roomId}/initialSync", auth(s.handleRoomInitialSync)).Methods(http.MethodGet)
		c.Handle("/rooms/{roomId}/messages", auth(s.handleMessages)).Methods(http.MethodGet)
		c.Handle("/rooms/{roomId}/context/{eventId}", auth(s.handleContext)).Methods(http.MethodGet)
		c.Handle("/rooms/{roomId}/typing/{userId}", auth(s.handleTyping)).Methods(http.MethodPut)
		c.Handle("/rooms/{roomId}/receipt/{receiptType}/{eventId}", auth(s.handleReceipt)).Methods(http.MethodPost)
		c.Handle("/rooms/{roomId}/read_markers", auth(s.handleReadMarkers)).Methods(http.MethodPost)
		c.Handle("/presence/{userId}/status", auth(s.handleGetPresence)).Methods(http.MethodGet)
		c.Handle("/presence/{userId}/status", auth(s.handlePutPresence)).Methods(http.MethodPut)
		c.Handle("/peek/{roomIdOrAlias}", auth(s.handlePeek)).Methods(http.MethodPost)    // MSC2753
		c.Handle("/rooms/{roomId}/unpeek", auth(s.handleUnpeek)).Methods(http.MethodPost) // MSC2753
	}
	r.Handle("/_matrix/client/unstable/org.matrix.simplified_msc3575/sync", auth(s.handleSlidingSync)).Methods(http.MethodPost) // MSC4186
	r.Handle("/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/{deviceId}/events", auth(s.handleDehydratedEvents)).Methods(http.MethodPost)
	v1 := r.PathPrefix("/_matrix/client/v1").Subrouter()
	v1.Handle("/rooms/{roomId}/threads", auth(s.handleThreads)).Methods(http.MethodGet)
	v1.Handle("/rooms/{roomId}/timestamp_to_event", auth(s.handleTimestampToEvent)).Methods(http.MethodGet)
	v1.Handle("/rooms/{roomId}/relations/{eventId}", auth(s.handleRelations)).Methods(http.MethodGet)
	v1.Handle("/rooms/{roomId}/relations/{eventId}/{relType}", auth(s.handleRelations)).Methods(http.MethodGet)
	v1.Handle("/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}", auth(s.handleRelations)).Methods(http.MethodGet)
}
