package userexport

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/mediaapi"
)

// MediaFile is an upload whose content the archive includes.
type MediaFile struct {
	ServerName, MediaID, SHA256 string
}

// Media opens the content of uploads.
type Media interface {
	Open(ctx context.Context, m MediaFile) (io.ReadCloser, error)
}

// StoreDir reads uploads from a media store directory (media_store_path),
// for the command line on the machine that holds it.
type StoreDir string

// Open opens the file of m's content.
func (d StoreDir) Open(_ context.Context, m MediaFile) (io.ReadCloser, error) {
	if len(m.SHA256) < 4 {
		return nil, errors.New("the upload has no content")
	}
	return os.Open(filepath.Join(string(d), mediaapi.ContentFile(m.SHA256)))
}

// APIMedia reads uploads through the media API, in this process or over
// NATS, in chunks: no file is ever whole in memory.
type APIMedia struct{ API mediaapi.API }

// Open asks the media API for m's file.
func (a APIMedia) Open(ctx context.Context, m MediaFile) (io.ReadCloser, error) {
	f, err := a.API.FederationMedia(ctx, mediaapi.FederationMediaRequest{ServerName: spec.ServerName(m.ServerName), MediaID: m.MediaID})
	if err != nil {
		return nil, err
	}
	return &apiReader{ctx: ctx, api: a.API, file: f.File, size: f.Size}, nil
}

type apiReader struct {
	ctx       context.Context
	api       mediaapi.API
	file      string
	off, size int64
}

func (r *apiReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	n := min(len(p), mediaapi.MaxReadChunk, int(r.size-r.off))
	b, err := r.api.ReadFile(r.ctx, r.file, r.off, n)
	if err != nil {
		return 0, err
	}
	if len(b) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	r.off += int64(copy(p, b))
	return len(b), nil
}

func (r *apiReader) Close() error { return nil }
