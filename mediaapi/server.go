// Package mediaapi serves uploads and downloads of media (the Matrix
// content repository). Files are stored once per content (named by their
// SHA-256) under media_store_path; each upload gets its own media id.
// Media of other servers is fetched once, scanned like an upload and
// cached (remote.go); our media reaches other servers through the
// federation API, which reads it through API.
package mediaapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/ratelimit"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/mediaapi/clamd"
	"github.com/rohrpost/rohrpost/mediaapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
	"maunium.net/go/mautrix/crypto/goolm/pk"
)

// Server is the media API.
type Server struct {
	cfg   *config.Config
	store *storage.Store
	users userapi.API
	// dir is media_store_path: content/ holds the files, thumbnails/
	// their thumbnails, quarantine/ infected uploads, tmp/ uploads in
	// progress.
	dir string
	// scanner is ClamAV, nil when none is configured.
	scanner *clamd.Client
	// pkKey decrypts the content scanner API's encrypted bodies.
	pkKey *pk.Decryption
	// limits are rc_media_create and rc_content_scanner; nil when off.
	limits *ratelimit.Limiter
	// remote fetches media of other servers; nil when none is fetched.
	remote  Remote
	fetches fetchGroup
	// background is thumbnails being made after uploads and fetches of
	// remote media; lifetime ends with Stop.
	background sync.WaitGroup
	lifetime   context.Context
	stop       context.CancelFunc
	// thumbs keeps Delete's removal of a thumbnail directory from running
	// while a thumbnail is written into it (a new upload's are made in the
	// background): RemoveAll fails with "directory not empty" when a file
	// appears in a directory it is emptying.
	thumbs sync.RWMutex

	scans scanCounts // metrics.go
}

// Stop ends fetches of remote media and waits for thumbnails in the
// making.
func (s *Server) Stop() {
	s.stop()
	s.background.Wait()
}

// Deps are what the media API needs.
type Deps struct {
	DB    *sqlutil.DB
	Users userapi.API
	// Bus holds the rate limits replicas share; nil keeps them in memory.
	Bus *bus.Conn
	// Remote reaches other servers for their media
	// (federationapi.NewMediaFetcher); nil serves local media only.
	Remote Remote
}

// New opens the media store.
func New(ctx context.Context, cfg *config.Config, deps Deps) (*Server, error) {
	store, err := storage.Open(ctx, deps.DB)
	if err != nil {
		return nil, fmt.Errorf("mediaapi storage: %w", err)
	}
	for _, d := range []string{"content", "thumbnails", "quarantine", "tmp"} {
		if err := os.MkdirAll(filepath.Join(cfg.MediaStorePath, d), 0o750); err != nil {
			return nil, fmt.Errorf("media_store_path: %w", err)
		}
	}
	scanner, err := newScanner(cfg.ContentScanner.Clamd)
	if err != nil {
		return nil, err
	}
	pkKey, err := loadPkKey(filepath.Join(cfg.MediaStorePath, "content_scanner.key"))
	if err != nil {
		return nil, fmt.Errorf("content scanner key: %w", err)
	}
	limits, err := ratelimit.New(ctx, cfg, deps.Bus)
	if err != nil {
		return nil, fmt.Errorf("rate limits: %w", err)
	}
	s := &Server{cfg: cfg, store: store, users: deps.Users, dir: cfg.MediaStorePath, scanner: scanner, pkKey: pkKey, remote: deps.Remote, limits: limits}
	s.lifetime, s.stop = context.WithCancel(context.Background())
	return s, nil
}

// contentPath is where the file with this SHA-256 (hex) lives: two levels
// of directories keep each small.
func (s *Server) contentPath(sum string) string {
	return filepath.Join(s.dir, "content", sum[:2], sum[2:4], sum)
}

// newMediaID is 24 random characters, safe in a URI.
func newMediaID() (string, error) {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Quarantined lists refused uploads, newest first (for the admin API).
func (s *Server) Quarantined(ctx context.Context, limit int) ([]storage.Quarantined, error) {
	return s.store.QuarantineList(ctx, limit)
}

// Delete removes media (for the admin API): the media id goes at once;
// the file and its thumbnails go when no other media id shares the
// content. It returns storage.ErrNotFound for unknown media.
func (s *Server) Delete(ctx context.Context, serverName, mediaID string) error {
	sha, shared, err := s.store.Delete(ctx, serverName, mediaID)
	if err != nil || sha == "" || shared {
		return err
	}
	if err := os.Remove(s.contentPath(sha)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.thumbs.Lock()
	defer s.thumbs.Unlock()
	return os.RemoveAll(filepath.Join(s.dir, "thumbnails", sha[:2], sha))
}
