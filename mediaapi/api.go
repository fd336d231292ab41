package mediaapi

import (
	"context"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/mediaapi/storage"
)

// API is what other components ask of the media API: the federation API
// serves our media to other servers through it. The bytes come in chunks,
// so that no file is ever whole in memory and the media API may run in
// another process than the federation API.
type API interface {
	// FederationMedia finds media of one of our server names (or a
	// thumbnail of it) that another server asked for: 404 M_NOT_FOUND for
	// unknown media and for anything the virus scanner refused, 504
	// M_NOT_YET_UPLOADED when the content did not arrive within Wait.
	FederationMedia(ctx context.Context, req FederationMediaRequest) (*FederationMedia, error)
	// ReadFile reads at most n (up to MaxReadChunk) bytes at offset of a
	// file FederationMedia named; fewer at its end.
	ReadFile(ctx context.Context, file string, offset int64, n int) ([]byte, error)

	// The admin API's changes (admin.go). Quarantined media is never
	// served again; protected media is never quarantined.
	// QuarantineMedia quarantines the media refs name and all other media
	// of the same content, as admin, and says how many media ids it
	// quarantined; QuarantineUploads does so for what a user uploaded.
	QuarantineMedia(ctx context.Context, refs []storage.Ref, admin string) (int, error)
	QuarantineUploads(ctx context.Context, uploader, admin string) (int, error)
	// UnquarantineMedia and ProtectMedia return ErrNotFound for unknown
	// media.
	UnquarantineMedia(ctx context.Context, ref storage.Ref) error
	ProtectMedia(ctx context.Context, ref storage.Ref, protect bool) error
	// DeleteMedia deletes media ids and returns those it found.
	DeleteMedia(ctx context.Context, refs []storage.Ref) ([]string, error)
	// DeleteOldMedia deletes local media served last before beforeTS and
	// larger than sizeGT bytes, except the media keep names and protected
	// or quarantined media.
	DeleteOldMedia(ctx context.Context, beforeTS, sizeGT int64, keep []storage.Ref) ([]string, error)
	// PurgeRemoteMedia deletes cached media of other servers served last
	// before beforeTS (a later request fetches it again) and says how many.
	PurgeRemoteMedia(ctx context.Context, beforeTS int64) (int, error)
}

var _ API = (*Server)(nil)

// FederationMediaRequest is another server asking for our media.
type FederationMediaRequest struct {
	// ServerName is the server name of ours the request was for.
	ServerName spec.ServerName
	MediaID    string
	// Wait is the request's timeout_ms (ContentWait).
	Wait time.Duration
	// Thumbnail asks for a thumbnail instead of the media.
	Thumbnail *ThumbnailRequest
}

// FederationMedia is a file to send to another server.
type FederationMedia struct {
	// File names the file for ReadFile.
	File                            string
	Size                            int64
	ContentType, ContentDisposition string
}

// MaxReadChunk bounds one ReadFile: well below NATS's 1 MiB message limit
// once encoded.
const MaxReadChunk = 256 << 10
