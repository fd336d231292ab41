package mediaapi

import (
	"context"
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

// mediaHandler serves media for a request made on behalf of origin, the
// local server name that signs any request to another server for it.
type mediaHandler func(w http.ResponseWriter, r *http.Request, origin spec.ServerName)

// authenticated wraps a media handler of /_matrix/client/v1/media: it
// needs an access token.
func (s *Server) authenticated(h mediaHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		dev, err := userapi.Authenticate(s.users, r)
		if err != nil {
			mxhttp.WriteError(w, r, err)
			return
		}
		h(w, r, dev.UserID.Domain())
	}
}

// legacy wraps a deprecated unauthenticated /_matrix/media/v3 handler:
// frozen (404) unless serve_unauthenticated_media is set, except for
// requests with a server admin's access token (header or access_token
// parameter): synapse-admin loads avatars and previews through these
// URLs (docs/admin-api.md, "Media through the unauthenticated URLs").
func (s *Server) legacy(h mediaHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.ServeUnauthenticatedMedia && !s.fromAdmin(r) {
			mxhttp.WriteError(w, r, mxhttp.NotFound("Unauthenticated media downloads are frozen; use /_matrix/client/v1/media"))
			return
		}
		h(w, r, s.cfg.ServerName)
	}
}

// fromAdmin tells whether r carries a valid access token of a server
// admin; a request without one, or with anyone else's, is not told why.
func (s *Server) fromAdmin(r *http.Request) bool {
	if userapi.AccessToken(r) == "" {
		return false
	}
	dev, err := userapi.Authenticate(s.users, r)
	return err == nil && dev.IsAdmin
}

// pathMedia is the media of the request's path once it has content:
// local media from the store, media of other servers from the cache or
// fetched from them (unless a legacy request says allow_remote=false).
func (s *Server) pathMedia(r *http.Request, origin spec.ServerName) (*storage.Media, error) {
	v := mux.Vars(r)
	wait, err := ContentWait(r)
	if err != nil {
		return nil, err
	}
	allowRemote := r.URL.Query().Get("allow_remote") != "false"
	return s.media(r.Context(), origin, v["serverName"], v["mediaId"], wait, allowRemote)
}

// media finds media by its mxc parts, waiting up to wait for its content.
func (s *Server) media(ctx context.Context, origin spec.ServerName, serverName, mediaID string, wait time.Duration, allowRemote bool) (*storage.Media, error) {
	server := spec.ServerName(serverName)
	if _, _, ok := spec.ParseAndValidateServerName(server); !ok || !ValidMediaID(mediaID) {
		return nil, mxhttp.NotFound("Unknown media")
	}
	var m *storage.Media
	var err error
	if s.cfg.IsLocal(server) {
		m, err = s.awaitContent(ctx, serverName, mediaID, wait)
	} else {
		m, err = s.remoteMedia(ctx, origin, server, mediaID, wait, allowRemote)
	}
	if err != nil {
		return nil, err
	}
	if m.QuarantinedBy != "" {
		return nil, errQuarantined
	}
	s.touch(m)
	return m, nil
}

// errQuarantined answers for media an admin quarantined, as Synapse: the
// media is gone as far as users can tell.
var errQuarantined = mxhttp.NotFound("Unknown media")

// serve is a download: the file with its stored type.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, origin spec.ServerName) {
	m, err := s.pathMedia(r, origin)
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

// defaultContentWait is how long a download waits for content when the
// request has no timeout_ms (the spec's default).
const defaultContentWait = 20 * time.Second

// ContentWait is a request's timeout_ms: how long a download waits for
// content that has not been uploaded yet (20 s by default, at most
// maxContentWait).
func ContentWait(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("timeout_ms")
	if v == "" {
		return defaultContentWait, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 0 {
		return 0, mxhttp.InvalidParam("timeout_ms must be a non-negative integer")
	}
	if ms > maxContentWait.Milliseconds() {
		return maxContentWait, nil
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// awaitContent returns local media, waiting up to wait for the content
// of a media id that does not have it yet: 504 M_NOT_YET_UPLOADED after
// that, 404 for an unknown or expired id.
func (s *Server) awaitContent(ctx context.Context, serverName, mediaID string, wait time.Duration) (*storage.Media, error) {
	deadline := time.Now().Add(wait)
	for {
		m, err := s.store.Get(ctx, serverName, mediaID)
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
			return nil, notYetUploaded
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

var notYetUploaded = &mxhttp.Error{Status: http.StatusGatewayTimeout, Code: "M_NOT_YET_UPLOADED", Msg: "The content has not been uploaded yet"}
