package mediaapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/mediaapi/storage"
)

// Serving our media to other servers (/_matrix/federation/v1/media/…,
// answered by the federation API). Only media of our own server names is
// served, never cached media of third servers, and never a file the virus
// scanner refused: such files are not in content/ at all, and a verdict
// that came later (a file stored before a scanner was configured is
// scanned on its first request) is checked on every request.

// FederationMedia implements API.
func (s *Server) FederationMedia(ctx context.Context, req FederationMediaRequest) (*FederationMedia, error) {
	if !s.cfg.IsLocal(req.ServerName) || !ValidMediaID(req.MediaID) {
		return nil, mxhttp.NotFound("Unknown media")
	}
	m, err := s.awaitContent(ctx, string(req.ServerName), req.MediaID, min(req.Wait, maxContentWait))
	if err != nil {
		return nil, err
	}
	if m.QuarantinedBy != "" {
		return nil, errQuarantined
	}
	if err := s.checkServable(ctx, m); err != nil {
		return nil, err
	}
	s.touch(m)
	out := &FederationMedia{ContentType: m.ContentType, ContentDisposition: disposition(m.ContentType, m.Filename)}
	path := s.contentPath(m.SHA256)
	if req.Thumbnail != nil {
		if path, out.ContentType, err = s.thumbnailFile(m, *req.Thumbnail); err != nil {
			return nil, err
		}
		out.ContentDisposition = "inline"
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, mxhttp.NotFound("The media's file is missing")
	}
	if out.File, err = filepath.Rel(s.dir, path); err != nil {
		return nil, err
	}
	out.Size = fi.Size()
	return out, nil
}

// checkServable refuses media whose content the scanner found infected.
func (s *Server) checkServable(ctx context.Context, m *storage.Media) error {
	verdict, err := s.verdict(ctx, m.SHA256)
	var se *scannerError
	if errors.As(err, &se) {
		// clamd is down and this content was never scanned.
		if s.cfg.ContentScanner.FailClosed {
			return &mxhttp.Error{Status: http.StatusServiceUnavailable, Code: "M_UNKNOWN", Msg: "The virus scanner is not available"}
		}
		return nil
	}
	if err != nil {
		return err
	}
	if verdict.Infected {
		return mxhttp.NotFound("Unknown media")
	}
	return nil
}

// servedFile is what ReadFile may open: content and thumbnails, named as
// FederationMedia names them. Nothing else under media_store_path (tmp/,
// quarantine/, the content scanner's key) and nothing outside it.
var servedFile = regexp.MustCompile(`^(content/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}|thumbnails/[0-9a-f]{2}/[0-9a-f]{64}/[0-9]{1,4}-(crop|scale|animated)\.(png|jpg|gif))$`)

// ReadFile implements API.
func (s *Server) ReadFile(ctx context.Context, file string, offset int64, n int) ([]byte, error) {
	if !servedFile.MatchString(filepath.ToSlash(file)) || offset < 0 || n <= 0 || n > MaxReadChunk {
		return nil, fmt.Errorf("mediaapi: ReadFile(%q, %d, %d) refused", file, offset, n)
	}
	f, err := os.Open(filepath.Join(s.dir, filepath.FromSlash(file)))
	if err != nil {
		return nil, mxhttp.NotFound("The media's file is missing")
	}
	defer f.Close()
	buf := make([]byte, n)
	k, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:k], nil
}
