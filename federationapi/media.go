package federationapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"runtime/debug"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/serverkey"
	"github.com/rohrpost/rohrpost/mediaapi"
)

// Federation media, both ways.
//
// Serving: /_matrix/federation/v1/media/download/{mediaId} and
// /thumbnail/{mediaId} answer signed requests for media of our server
// names. The media API finds the file (and makes the thumbnail, and
// refuses what the virus scanner refused); the answer is multipart/mixed
// as the spec has it: a JSON part with the metadata ({}), then the bytes
// with their Content-Type and Content-Disposition. The bytes come from the
// media API in chunks, so no file is ever whole in memory and the media API
// may run in another process.
//
// Fetching: MediaFetcher is how the media API reaches other servers for
// their media (mediaapi/remote.go does the rest).

func (s *Server) mediaRoutes(f *mux.Router) {
	f.Handle("/v1/media/download/{mediaId}", s.verifier.streamed(s.mediaDownload)).Methods(http.MethodGet)
	f.Handle("/v1/media/thumbnail/{mediaId}", s.verifier.streamed(s.mediaThumbnail)).Methods(http.MethodGet)
}

// streamed is Handler for answers that are not JSON: h writes its answer
// itself once the request is authenticated and allowed, or returns the
// error to answer with before it wrote anything.
func (v *Verifier) streamed(h func(w http.ResponseWriter, r *http.Request, origin spec.ServerName) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p) // net/http's way to break the connection
				}
				slog.Error("handler panic", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				mxhttp.WriteError(w, r, fmt.Errorf("panic: %v", p))
			}
		}()
		origin, _, err := v.verify(r)
		if err == nil {
			err = h(w, r, origin)
		}
		if err != nil {
			mxhttp.WriteError(w, r, err)
		}
	})
}

// mediaDownload is GET /_matrix/federation/v1/media/download/{mediaId}.
func (s *Server) mediaDownload(w http.ResponseWriter, r *http.Request, origin spec.ServerName) error {
	return s.serveMedia(w, r, origin, nil)
}

// mediaThumbnail is GET /_matrix/federation/v1/media/thumbnail/{mediaId}.
func (s *Server) mediaThumbnail(w http.ResponseWriter, r *http.Request, origin spec.ServerName) error {
	thumb, err := mediaapi.ParseThumbnailRequest(r.URL.Query())
	if err != nil {
		return err
	}
	return s.serveMedia(w, r, origin, &thumb)
}

func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request, origin spec.ServerName, thumb *mediaapi.ThumbnailRequest) error {
	if s.media == nil {
		return mxhttp.NotFound("This server serves no media")
	}
	id := mux.Vars(r)["mediaId"]
	if !mediaapi.ValidMediaID(id) {
		return mxhttp.NotFound("Unknown media")
	}
	wait, err := mediaapi.ContentWait(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	file, err := s.media.FederationMedia(ctx, mediaapi.FederationMediaRequest{
		ServerName: s.requestDestination(r), MediaID: id, Wait: wait, Thumbnail: thumb,
	})
	if err != nil {
		return err
	}
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	w.WriteHeader(http.StatusOK)
	if err := s.writeMediaParts(ctx, mw, file); err != nil {
		// The answer has begun: break the connection, so that the other
		// server cannot take a cut-off file for the whole one.
		if ctx.Err() == nil {
			slog.Warn("federation media: answer broke off", "origin", origin, "media_id", id, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}

// writeMediaParts writes the two parts of the spec's answer: the metadata
// ({}) and the file, read from the media API chunk by chunk.
func (s *Server) writeMediaParts(ctx context.Context, mw *multipart.Writer, file *mediaapi.FederationMedia) error {
	meta, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
	if err != nil {
		return err
	}
	if _, err := meta.Write([]byte("{}")); err != nil {
		return err
	}
	content, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type": {file.ContentType}, "Content-Disposition": {file.ContentDisposition},
	})
	if err != nil {
		return err
	}
	for off := int64(0); off < file.Size; {
		chunk, err := s.media.ReadFile(ctx, file.File, off, mediaapi.MaxReadChunk)
		if err != nil {
			return err
		}
		if len(chunk) == 0 {
			return errors.New("the file ends early")
		}
		if _, err := content.Write(chunk); err != nil {
			return err
		}
		off += int64(len(chunk))
	}
	return mw.Close()
}

// requestDestination is the server name of ours a verified request was
// for: the X-Matrix destination, or our main name for servers that send
// none (before spec v1.3).
func (s *Server) requestDestination(r *http.Request) spec.ServerName {
	for _, h := range r.Header.Values("Authorization") {
		if scheme, _, dest, _, _ := fclient.ParseAuthorization(h); scheme == "X-Matrix" && dest != "" {
			return dest
		}
	}
	return s.cfg.ServerName
}

// MediaFetcher sends the media API's requests to other servers: only to
// servers the federation policy allows (403 M_FORBIDDEN otherwise),
// through the federation transport (server discovery, our TLS trust, the
// ip_range_blacklist checked on every address dialled), signed with the
// key of the local server name the request is made for.
type MediaFetcher struct {
	keys   map[spec.ServerName]serverkey.Key
	policy *Policy
	// matrix carries matrix:// URLs and follows no redirects; web fetches
	// the Location a multipart answer may point to.
	matrix, web *http.Client
}

var _ mediaapi.Remote = (*MediaFetcher)(nil)

// maxLocationRedirects bounds the redirects followed from a Location.
const maxLocationRedirects = 3

// NewMediaFetcher builds the fetcher for the local server names of keys.
func NewMediaFetcher(cfg *config.Config, keys []serverkey.Key) (*MediaFetcher, error) {
	tlsCfg, err := cfg.FederationTLS()
	if err != nil {
		return nil, fmt.Errorf("federation TLS: %w", err)
	}
	deny, err := parsePrefixes(cfg.FederationDenyNetworks())
	if err != nil {
		return nil, fmt.Errorf("ip_range_blacklist: %w", err)
	}
	policy, err := NewPolicy(cfg)
	if err != nil {
		return nil, err
	}
	f := &MediaFetcher{keys: map[spec.ServerName]serverkey.Key{}, policy: policy}
	for _, k := range keys {
		f.keys[k.ServerName] = k
	}
	f.matrix = &http.Client{
		Transport: newTransport(tlsCfg, deny),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	f.web = &http.Client{
		Transport: &http.Transport{
			DialContext: denyingDialer(deny).DialContext, TLSClientConfig: tlsCfg.Clone(), Proxy: nil,
			TLSHandshakeTimeout: dialTimeout * 2, MaxResponseHeaderBytes: 64 << 10, ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxLocationRedirects {
				return errors.New("too many redirects")
			}
			return checkWebURL(req.URL)
		},
	}
	return f, nil
}

// Get implements mediaapi.Remote.
func (f *MediaFetcher) Get(ctx context.Context, origin, destination spec.ServerName, path string, signed bool) (*http.Response, error) {
	if !f.policy.Allowed(destination) {
		return nil, mxhttp.Forbidden("Federation with this server is not allowed")
	}
	var req *http.Request
	if signed {
		key, ok := f.keys[origin]
		if !ok {
			return nil, fmt.Errorf("federation media: %q is not a local server name", origin)
		}
		fr := fclient.NewFederationRequest(http.MethodGet, origin, destination, path)
		if err := fr.Sign(key.ServerName, key.ID, key.Private); err != nil {
			return nil, err
		}
		r, err := fr.HTTPRequest()
		if err != nil {
			return nil, err
		}
		req = r.WithContext(ctx)
	} else {
		// The deprecated endpoint is a client one: no X-Matrix header,
		// which its server would take for a bad access token.
		r, err := http.NewRequestWithContext(ctx, http.MethodGet, "matrix://"+string(destination)+path, nil)
		if err != nil {
			return nil, err
		}
		req = r
	}
	req.Header.Set("User-Agent", userAgent)
	return f.matrix.Do(req)
}

// GetURL implements mediaapi.Remote.
func (f *MediaFetcher) GetURL(ctx context.Context, rawURL string) (*http.Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if err := checkWebURL(u); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	return f.web.Do(req)
}

func checkWebURL(u *url.URL) error {
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("federation media: refusing location %q", u.Redacted())
	}
	return nil
}
