package mediaapi

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
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

// authenticated wraps a media handler of /_matrix/client/v1/media: it
// needs an access token.
func (s *Server) authenticated(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := userapi.Authenticate(s.users, r); err != nil {
			mxhttp.WriteError(w, r, err)
			return
		}
		h(w, r)
	}
}

// legacy wraps a deprecated unauthenticated /_matrix/media/v3 handler:
// frozen (404) unless serve_unauthenticated_media is set.
func (s *Server) legacy(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.ServeUnauthenticatedMedia {
			mxhttp.WriteError(w, r, mxhttp.NotFound("Unauthenticated media downloads are frozen; use /_matrix/client/v1/media"))
			return
		}
		h(w, r)
	}
}

// localMedia is the media of the request's path, once it has content;
// media of other servers comes with federation.
func (s *Server) localMedia(r *http.Request) (*storage.Media, error) {
	v := mux.Vars(r)
	if !s.cfg.IsLocal(spec.ServerName(v["serverName"])) {
		return nil, mxhttp.NotFound("Media of other servers cannot be fetched yet")
	}
	return s.awaitContent(r, v["serverName"], v["mediaId"])
}

// serve is a download: the file with its stored type.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	m, err := s.localMedia(r)
	if err != nil {
		mxhttp.WriteError(w, r, err)
		return
	}
	name := m.Filename
	if n := mux.Vars(r)["fileName"]; n != "" {
		name = n
	}
	w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	serveFile(w, r, s.contentPath(m.SHA256), m.ContentType, disposition(m.ContentType, name), m.CreatedTS)
}

// serveFile sends a stored file with the headers that keep it from
// running anything; http.ServeContent answers Range requests (video
// seeking) and HEAD.
func serveFile(w http.ResponseWriter, r *http.Request, path, contentType, contentDisposition string, createdTS int64) {
	f, err := os.Open(path)
	if err != nil {
		mxhttp.WriteError(w, r, mxhttp.NotFound("The media's file is missing"))
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", contentDisposition)
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.UnixMilli(createdTS), f)
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

// maxContentWait bounds how long a download waits for the content of an
// asynchronous upload (timeout_ms).
const maxContentWait = time.Minute

// awaitContent returns the media, waiting up to timeout_ms (default 20 s)
// for the content of a media id that does not have it yet: 504
// M_NOT_YET_UPLOADED after that, 404 for an unknown or expired id.
func (s *Server) awaitContent(r *http.Request, serverName, mediaID string) (*storage.Media, error) {
	wait := 20 * time.Second
	if v := r.URL.Query().Get("timeout_ms"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			return nil, mxhttp.InvalidParam("timeout_ms must be a non-negative integer")
		}
		wait = min(time.Duration(ms)*time.Millisecond, maxContentWait)
	}
	deadline := time.Now().Add(wait)
	for {
		m, err := s.store.Get(r.Context(), serverName, mediaID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, mxhttp.NotFound("Unknown media")
		}
		if err != nil {
			return nil, err
		}
		if !m.Pending() {
			return m, nil
		}
		if time.Now().UnixMilli() > m.ExpiresTS {
			return nil, mxhttp.NotFound("Unknown media")
		}
		if time.Now().After(deadline) {
			return nil, &mxhttp.Error{Status: http.StatusGatewayTimeout, Code: "M_NOT_YET_UPLOADED", Msg: "The content has not been uploaded yet"}
		}
		select {
		case <-r.Context().Done():
			return nil, r.Context().Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
