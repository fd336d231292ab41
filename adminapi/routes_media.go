package adminapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// mediaRoutes are the media administration's (media.go, user_media.go),
// kept apart from routes.go, which several people edit.
func (s *Server) mediaRoutes(a *mux.Router) {
	post := func(action string, h adminHandler) http.Handler { return mxhttp.EmptyBodyIsObject(s.act(action, h)) }
	a.Handle("/v1/media/delete", post("media.delete_old", s.deleteOldMedia)).Methods(http.MethodPost)
	a.Handle("/v1/media/{serverName}/delete", post("media.delete_old", s.deleteOldMedia)).Methods(http.MethodPost)
	a.Handle("/v1/media/quarantine/{serverName}/{mediaId}", post("media.quarantine", s.quarantineMedia)).Methods(http.MethodPost)
	a.Handle("/v1/media/unquarantine/{serverName}/{mediaId}", post("media.unquarantine", s.unquarantineMedia)).Methods(http.MethodPost)
	a.Handle("/v1/media/protect/{mediaId}", post("media.protect", s.protectMedia(true))).Methods(http.MethodPost)
	a.Handle("/v1/media/unprotect/{mediaId}", post("media.unprotect", s.protectMedia(false))).Methods(http.MethodPost)
	a.Handle("/v1/media/{serverName}/{mediaId}", s.read(s.mediaInfo)).Methods(http.MethodGet)
	a.Handle("/v1/media/{serverName}/{mediaId}", s.act("media.delete", s.deleteOneMedia)).Methods(http.MethodDelete)
	a.Handle("/v1/purge_media_cache", post("media.purge_cache", s.purgeMediaCache)).Methods(http.MethodPost)
	a.Handle("/v1/room/{roomId}/media", s.read(s.roomMedia)).Methods(http.MethodGet)
	a.Handle("/v1/room/{roomId}/media/quarantine", post("media.quarantine_room", s.quarantineRoomMedia)).Methods(http.MethodPost)
	a.Handle("/v1/quarantine_media/{roomId}", post("media.quarantine_room", s.quarantineRoomMedia)).Methods(http.MethodPost)
	a.Handle("/v1/user/{userId}/media/quarantine", post("media.quarantine_user", s.quarantineUserMedia)).Methods(http.MethodPost)
	a.Handle("/v1/users/{userId}/media", s.read(s.userMedia)).Methods(http.MethodGet)
	a.Handle("/v1/users/{userId}/media", s.act("media.delete_user", s.deleteUserMedia)).Methods(http.MethodDelete)
	a.Handle("/v1/statistics/users/media", s.read(s.userMediaStatistics)).Methods(http.MethodGet)
}
