package clientapi

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	mediastorage "github.com/rohrpost/rohrpost/mediaapi/storage"
)

// openMediaReader reads the media tables (decision 0001) for
// max_avatar_size: the size of an avatar is the media API's record.
func (s *Server) openMediaReader(ctx context.Context, db *sqlutil.DB) error {
	if s.cfg.MaxAvatarSize <= 0 {
		return nil
	}
	if db == nil {
		return errors.New("max_avatar_size needs the media tables, and the client API has no database here")
	}
	var err error
	if s.media, err = mediastorage.OpenReader(ctx, db); err != nil {
		return fmt.Errorf("clientapi: media tables: %w", err)
	}
	return nil
}

// checkAvatarSize refuses, as Synapse does, an avatar whose media is
// larger than max_avatar_size or that this server does not have (an
// upload here, or another server's media fetched before); clearing the
// avatar is always allowed.
func (s *Server) checkAvatarSize(ctx context.Context, mxc string) error {
	if s.media == nil || mxc == "" {
		return nil
	}
	server, mediaID, ok := strings.Cut(strings.TrimPrefix(mxc, "mxc://"), "/")
	if !strings.HasPrefix(mxc, "mxc://") || !ok || server == "" || mediaID == "" {
		return mxhttp.Forbidden("This avatar is not allowed: avatar_url is not an mxc:// URI")
	}
	m, err := s.media.Get(ctx, server, mediaID)
	if errors.Is(err, mediastorage.ErrNotFound) {
		return mxhttp.Forbidden("This avatar is not allowed: the server does not have its media")
	}
	if err != nil {
		return err
	}
	if m.Size > int64(s.cfg.MaxAvatarSize) {
		return mxhttp.Forbidden(fmt.Sprintf("This avatar is not allowed: it is larger than %d bytes", int64(s.cfg.MaxAvatarSize)))
	}
	return nil
}
