package mediaapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// Routes mounts the media endpoints: the authenticated ones under
// /_matrix/client/v1/media, uploads and the legacy ones under
// /_matrix/media.
func (s *Server) Routes(r *mux.Router) {
	auth := func(h func(*http.Request, *userapi.Device) (any, error)) mxhttp.Handler {
		return userapi.Authed(s.users, h)
	}
	r.Handle("/_matrix/media/v1/create", auth(s.rateLimitedCreate)).Methods(http.MethodPost)
	cs := r.PathPrefix("/_matrix/media_proxy/unstable").Subrouter()
	cs.HandleFunc("/download/{serverName}/{mediaId}", s.scannerServe(s.serve)).Methods(http.MethodGet)
	cs.HandleFunc("/thumbnail/{serverName}/{mediaId}", s.scannerServe(s.serveThumbnail)).Methods(http.MethodGet)
	cs.HandleFunc("/scan/{serverName}/{mediaId}", s.scannerScan).Methods(http.MethodGet)
	cs.HandleFunc("/download_encrypted", s.scannerRateLimited(s.scannerEncrypted(true))).Methods(http.MethodPost)
	cs.HandleFunc("/scan_encrypted", s.scannerRateLimited(s.scannerEncrypted(false))).Methods(http.MethodPost)
	cs.HandleFunc("/public_key", s.scannerPublicKey).Methods(http.MethodGet)
	v1 := r.PathPrefix("/_matrix/client/v1/media").Subrouter()
	v1.Handle("/config", auth(s.config)).Methods(http.MethodGet)
	v1.Handle("/preview_url", auth(s.previewURL)).Methods(http.MethodGet)
	v1.HandleFunc("/download/{serverName}/{mediaId}", s.authenticated(s.serve)).Methods(http.MethodGet, http.MethodHead)
	v1.HandleFunc("/download/{serverName}/{mediaId}/{fileName}", s.authenticated(s.serve)).Methods(http.MethodGet, http.MethodHead)
	v1.HandleFunc("/thumbnail/{serverName}/{mediaId}", s.authenticated(s.serveThumbnail)).Methods(http.MethodGet, http.MethodHead)
	for _, v := range []string{"r0", "v3"} {
		m := r.PathPrefix("/_matrix/media/" + v).Subrouter()
		m.Handle("/upload", auth(s.upload)).Methods(http.MethodPost)
		m.Handle("/upload/{serverName}/{mediaId}", auth(s.uploadTo)).Methods(http.MethodPut)
		m.Handle("/config", auth(s.config)).Methods(http.MethodGet)
		m.Handle("/preview_url", auth(s.previewURL)).Methods(http.MethodGet)
		m.HandleFunc("/download/{serverName}/{mediaId}", s.legacy(s.serve)).Methods(http.MethodGet, http.MethodHead)
		m.HandleFunc("/download/{serverName}/{mediaId}/{fileName}", s.legacy(s.serve)).Methods(http.MethodGet, http.MethodHead)
		m.HandleFunc("/thumbnail/{serverName}/{mediaId}", s.legacy(s.serveThumbnail)).Methods(http.MethodGet, http.MethodHead)
	}
}
