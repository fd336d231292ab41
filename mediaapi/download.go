package mediaapi

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/mediaapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// inlineTypes may be shown in the browser; everything else is offered as
// a download, so that an uploaded page or script never runs in the
// server's origin.
var inlineTypes = map[string]bool{
	"text/plain": true, "text/csv": true, "application/json": true,
	"image/jpeg": true, "image/gif": true, "image/png": true, "image/apng": true, "image/webp": true, "image/avif": true,
	"video/mp4": true, "video/webm": true, "video/ogg": true, "video/quicktime": true,
	"audio/mp4": true, "audio/webm": true, "audio/aac": true, "audio/mpeg": true, "audio/ogg": true, "audio/wave": true,
	"audio/wav": true, "audio/x-wav": true, "audio/x-pn-wav": true, "audio/flac": true, "audio/x-flac": true,
}

// contentSecurityPolicy keeps served media from running anything.
const contentSecurityPolicy = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"

// download is GET /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}].
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	if _, err := userapi.Authenticate(s.users, r); err != nil {
		mxhttp.WriteError(w, r, err)
		return
	}
	s.serve(w, r)
}

// legacyDownload is the deprecated unauthenticated /_matrix/media/v3
// download: frozen (404) unless serve_unauthenticated_media is set.
func (s *Server) legacyDownload(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.ServeUnauthenticatedMedia {
		mxhttp.WriteError(w, r, mxhttp.NotFound("Unauthenticated media downloads are frozen; use /_matrix/client/v1/media"))
		return
	}
	s.serve(w, r)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	serverName, mediaID := v["serverName"], v["mediaId"]
	if !s.cfg.IsLocal(spec.ServerName(serverName)) {
		// Remote media comes with federation.
		mxhttp.WriteError(w, r, mxhttp.NotFound("Media of other servers cannot be fetched yet"))
		return
	}
	m, err := s.store.Get(r.Context(), serverName, mediaID)
	if errors.Is(err, storage.ErrNotFound) {
		mxhttp.WriteError(w, r, mxhttp.NotFound("Unknown media"))
		return
	}
	if err != nil {
		mxhttp.WriteError(w, r, err)
		return
	}
	f, err := os.Open(s.contentPath(m.SHA256))
	if err != nil {
		mxhttp.WriteError(w, r, mxhttp.NotFound("The media's file is missing"))
		return
	}
	defer f.Close()
	name := m.Filename
	if n := v["fileName"]; n != "" {
		name = n
	}
	h := w.Header()
	h.Set("Content-Type", m.ContentType)
	h.Set("Content-Disposition", disposition(m.ContentType, name))
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	// ServeContent answers Range requests (video seeking) and HEAD.
	http.ServeContent(w, r, "", time.UnixMilli(m.CreatedTS), f)
}

// disposition is inline for the safe types and attachment otherwise, with
// the file name in RFC 6266's UTF-8 form.
func disposition(contentType, name string) string {
	kind := "attachment"
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && inlineTypes[strings.ToLower(mt)] {
		kind = "inline"
	}
	if name == "" {
		return kind
	}
	return kind + "; filename*=utf-8''" + url.PathEscape(name)
}
