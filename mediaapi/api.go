package mediaapi

import (
	"context"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
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
