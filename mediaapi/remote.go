package mediaapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/mediaapi/storage"
)

// Media of other servers (authenticated media, spec v1.11): the first
// request for it fetches it from the server its mxc URI names, through
// /_matrix/federation/v1/media/download, or the legacy
// /_matrix/media/v3/download with allow_remote=false when that server
// answers 404 M_UNRECOGNIZED. The file streams to disk bounded by
// max_upload_size, is scanned exactly as an upload is, and is cached in the
// media table under the other server's name; every later request is served
// from the cache. A file the scanner refuses is quarantined, recorded in
// remote_media_refused, never served and never fetched again. Concurrent
// first requests wait for one fetch. Thumbnails are made here from the
// cached original, with the same limits as for local media.

// Remote reaches other servers: federationapi's MediaFetcher, which keeps to
// the federation policy (a refused server gives a 403 *mxhttp.Error),
// signs, and dials only addresses outside the ip_range_blacklist.
type Remote interface {
	// Get sends GET path (with its query) to destination, signed as origin
	// when signed is set.
	Get(ctx context.Context, origin, destination spec.ServerName, path string, signed bool) (*http.Response, error)
	// GetURL fetches a URL another server's answer pointed to (a Location).
	GetURL(ctx context.Context, url string) (*http.Response, error)
}

const (
	// remoteAnswerSlack is how much longer than timeout_ms another server
	// may take to begin its answer: the time to reach it.
	remoteAnswerSlack = 5 * time.Second
	// remoteFetchTimeout bounds a whole fetch, transfer and scan included.
	remoteFetchTimeout = 10 * time.Minute
	// maxRemoteErrorBody bounds what is read of an error answer.
	maxRemoteErrorBody = 64 << 10
)

// remoteMedia returns media of another server from the cache, fetching it
// first unless allowRemote is false.
func (s *Server) remoteMedia(ctx context.Context, origin, server spec.ServerName, mediaID string, wait time.Duration, allowRemote bool) (*storage.Media, error) {
	m, err := s.cachedRemote(ctx, server, mediaID)
	if err != nil || m != nil {
		return m, err
	}
	if !allowRemote || s.remote == nil {
		return nil, mxhttp.NotFound("Unknown media")
	}
	return s.fetches.do(ctx, s, string(server)+"/"+mediaID, func(ctx context.Context) (*storage.Media, error) {
		// A request that waited for another one's fetch may find the
		// media cached by now.
		if m, err := s.cachedRemote(ctx, server, mediaID); err != nil || m != nil {
			return m, err
		}
		return s.fetchRemote(ctx, origin, server, mediaID, wait)
	})
}

// cachedRemote is cached remote media, nil when there is none, or the
// refusal of media the scanner refused.
func (s *Server) cachedRemote(ctx context.Context, server spec.ServerName, mediaID string) (*storage.Media, error) {
	m, err := s.store.Get(ctx, string(server), mediaID)
	if err == nil && m.QuarantinedBy != "" {
		// Not nil: quarantined media is not fetched again either.
		return nil, errQuarantined
	}
	if err == nil && !m.Pending() {
		return m, nil
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	refused, err := s.store.RemoteRefusal(ctx, string(server), mediaID)
	if err != nil {
		return nil, err
	}
	if refused != nil {
		return nil, infected(refused.Signature)
	}
	return nil, nil
}

func infected(signature string) error {
	return mxhttp.Forbidden("The file contains malware (" + signature + ") and is not served")
}

// refusedAsInfected tells whether remote media was refused by the scanner.
func (s *Server) refusedAsInfected(ctx context.Context, serverName, mediaID string) bool {
	r, err := s.store.RemoteRefusal(ctx, serverName, mediaID)
	return err == nil && r != nil
}

// fetchRemote fetches, scans and caches media of another server.
func (s *Server) fetchRemote(ctx context.Context, origin, server spec.ServerName, mediaID string, wait time.Duration) (*storage.Media, error) {
	file, err := s.askRemote(ctx, origin, server, mediaID, wait)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	if file.Length > int64(s.cfg.MaxUploadSize) {
		return nil, remoteTooLarge
	}
	got := &received{contentType: file.ContentType, filename: file.Filename}
	if _, _, err := mime.ParseMediaType(got.contentType); err != nil {
		got.contentType = "application/octet-stream"
	}
	if len(got.filename) > maxFilenameLength || !utf8.ValidString(got.filename) {
		got.filename = ""
	}
	mxc := "mxc://" + string(server) + "/" + mediaID
	// The quarantine names the mxc URI where an upload names its uploader.
	q := storage.Quarantined{Uploader: mxc, Filename: got.filename, ContentType: got.contentType}
	err = s.storeContent(ctx, file.Body, got, q)
	var me *mxhttp.Error
	switch {
	case err == nil:
	case errors.Is(err, errTooLarge):
		return nil, remoteTooLarge
	case errors.Is(err, errBrokenOff):
		slog.Warn("mediaapi: remote media broke off", "mxc", mxc)
		return nil, &mxhttp.Error{Status: http.StatusBadGateway, Code: "M_UNKNOWN", Msg: "The transfer from " + string(server) + " broke off"}
	case errors.As(err, &me) && me.Status == http.StatusForbidden:
		return nil, s.refuseRemote(ctx, server, mediaID, got.sum)
	default:
		return nil, err
	}
	return s.store.PutRemote(ctx, storage.Media{ServerName: string(server), MediaID: mediaID, SHA256: got.sum,
		ContentType: got.contentType, Filename: got.filename, Size: got.size, CreatedTS: time.Now().UnixMilli()})
}

// refuseRemote records remote media the scanner refused (scanUpload has
// quarantined the file), so that it is never fetched again.
func (s *Server) refuseRemote(ctx context.Context, server spec.ServerName, mediaID, sum string) error {
	verdict, err := s.store.ScanResult(ctx, sum)
	if err != nil {
		return err
	}
	if verdict == nil || !verdict.Infected {
		return fmt.Errorf("remote media %s/%s refused without a verdict", server, mediaID)
	}
	slog.Warn("mediaapi: infected remote media refused", "server", server, "media_id", mediaID, "signature", verdict.Signature, "sha256", sum)
	if err := s.store.RefuseRemote(ctx, string(server), mediaID, storage.RefusedRemote{SHA256: sum,
		Signature: verdict.Signature, RefusedTS: time.Now().UnixMilli()}); err != nil {
		return err
	}
	return infected(verdict.Signature)
}

// askRemote requests the media from the server of its mxc URI and returns
// the content part of the answer.
func (s *Server) askRemote(ctx context.Context, origin, server spec.ServerName, mediaID string, wait time.Duration) (*remoteFile, error) {
	timeout := "timeout_ms=" + strconv.FormatInt(wait.Milliseconds(), 10)
	resp, err := s.getRemote(ctx, wait, func(ctx context.Context) (*http.Response, error) {
		return s.remote.Get(ctx, origin, server, "/_matrix/federation/v1/media/download/"+mediaID+"?"+timeout, true)
	})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		file, err := readMultipartAnswer(resp)
		if err != nil {
			resp.Body.Close()
			slog.Warn("mediaapi: bad federation media answer", "server", server, "media_id", mediaID, "err", err)
			return nil, badRemoteAnswer(server)
		}
		if file.Location != "" {
			return s.followLocation(ctx, server, file, wait)
		}
		return file, nil
	}
	code := readErrcode(resp)
	if resp.StatusCode != http.StatusNotFound || code != "M_UNRECOGNIZED" {
		return nil, remoteStatus(server, resp.StatusCode, code)
	}
	// A server before spec v1.11: its deprecated endpoint, which must not
	// ask further servers in turn.
	resp, err = s.getRemote(ctx, wait, func(ctx context.Context) (*http.Response, error) {
		path := "/_matrix/media/v3/download/" + url.PathEscape(string(server)) + "/" + mediaID + "?allow_remote=false&" + timeout
		return s.remote.Get(ctx, origin, server, path, false)
	})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, remoteStatus(server, resp.StatusCode, readErrcode(resp))
	}
	return plainAnswer(resp), nil
}

// followLocation fetches the content a multipart answer redirected to.
func (s *Server) followLocation(ctx context.Context, server spec.ServerName, file *remoteFile, wait time.Duration) (*remoteFile, error) {
	file.Close()
	resp, err := s.getRemote(ctx, wait, func(ctx context.Context) (*http.Response, error) {
		return s.remote.GetURL(ctx, file.Location)
	})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, remoteStatus(server, resp.StatusCode, readErrcode(resp))
	}
	return plainAnswer(resp), nil
}

// getRemote runs get, giving up when no answer has begun within wait and
// remoteAnswerSlack: 504 M_NOT_YET_UPLOADED, the spec's answer for content
// that is not there yet. A server that cannot be reached gives 502.
func (s *Server) getRemote(parent context.Context, wait time.Duration, get func(context.Context) (*http.Response, error)) (*http.Response, error) {
	ctx, cancel := context.WithCancel(parent)
	var late atomic.Bool
	timer := time.AfterFunc(wait+remoteAnswerSlack, func() {
		late.Store(true)
		cancel()
	})
	resp, err := get(ctx)
	timer.Stop()
	if late.Load() {
		if err == nil {
			resp.Body.Close()
		}
		cancel()
		return nil, &mxhttp.Error{Status: http.StatusGatewayTimeout, Code: "M_NOT_YET_UPLOADED", Msg: "The other server did not answer in time"}
	}
	if err != nil {
		cancel()
		var me *mxhttp.Error
		if errors.As(err, &me) {
			return nil, err // the federation policy's refusal
		}
		if parent.Err() != nil {
			return nil, parent.Err() // stopping, or the fetch ran out of time
		}
		slog.Warn("mediaapi: remote media request failed", "err", err)
		return nil, &mxhttp.Error{Status: http.StatusBadGateway, Code: "M_UNKNOWN", Msg: "The other server could not be reached"}
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose ends a request's context with its body.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// readErrcode reads the errcode of an error answer and closes its body.
func readErrcode(resp *http.Response) string {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxRemoteErrorBody))
	var e struct {
		Errcode string `json:"errcode"`
	}
	if mxhttp.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Errcode
}

// remoteStatus is the answer to a client for another server's error.
func remoteStatus(server spec.ServerName, status int, errcode string) error {
	switch {
	case status == http.StatusNotFound:
		return mxhttp.NotFound("Unknown media")
	case status == http.StatusGatewayTimeout && errcode == "M_NOT_YET_UPLOADED":
		return notYetUploaded
	case errcode == "M_TOO_LARGE" || status == http.StatusRequestEntityTooLarge:
		return remoteTooLarge
	}
	return &mxhttp.Error{Status: http.StatusBadGateway, Code: "M_UNKNOWN",
		Msg: strings.TrimSpace(fmt.Sprintf("%s answered %d %s", server, status, errcode))}
}

// remoteTooLarge is the spec's answer for remote media over our limit.
var remoteTooLarge = &mxhttp.Error{Status: http.StatusBadGateway, Code: "M_TOO_LARGE", Msg: "The remote file is larger than this server accepts"}

func badRemoteAnswer(server spec.ServerName) error {
	return &mxhttp.Error{Status: http.StatusBadGateway, Code: "M_UNKNOWN", Msg: string(server) + " sent an answer that is not media"}
}

// fetchGroup runs one fetch per remote media at a time; requests that come
// while it runs wait for its outcome. The fetch runs on the server's
// context, not the first request's, so a client that gives up does not
// break the fetch for the others.
type fetchGroup struct {
	mu    sync.Mutex
	calls map[string]*fetchCall
}

type fetchCall struct {
	done chan struct{}
	m    *storage.Media
	err  error
}

func (g *fetchGroup) do(ctx context.Context, s *Server, key string, fetch func(context.Context) (*storage.Media, error)) (*storage.Media, error) {
	g.mu.Lock()
	c, ok := g.calls[key]
	if !ok {
		if g.calls == nil {
			g.calls = map[string]*fetchCall{}
		}
		c = &fetchCall{done: make(chan struct{})}
		g.calls[key] = c
		s.background.Add(1)
		go func() {
			defer s.background.Done()
			fctx, cancel := context.WithTimeout(s.lifetime, remoteFetchTimeout)
			c.m, c.err = fetch(fctx)
			cancel()
			g.mu.Lock()
			delete(g.calls, key)
			g.mu.Unlock()
			close(c.done)
		}()
	}
	g.mu.Unlock()
	select {
	case <-c.done:
		return c.m, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
