package mediaapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/mediaapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// upload is POST /_matrix/media/v3/upload: the body is streamed to a
// temporary file while it is hashed, never held in memory, and then moved
// to its content path unless an identical file is there already.
func (s *Server) upload(r *http.Request, dev *userapi.Device) (any, error) {
	max := int64(s.cfg.MaxUploadSize)
	tooLarge := &mxhttp.Error{Status: http.StatusRequestEntityTooLarge, Code: "M_TOO_LARGE", Msg: "The file is larger than this server accepts"}
	if r.ContentLength > max {
		return nil, tooLarge
	}
	contentType := r.Header.Get("Content-Type")
	if contentType == "" {
		contentType = "application/octet-stream"
	} else if _, _, err := mime.ParseMediaType(contentType); err != nil {
		return nil, mxhttp.InvalidParam("Content-Type is not a media type")
	}
	filename := r.URL.Query().Get("filename")
	if len(filename) > 255 {
		return nil, mxhttp.InvalidParam("filename is too long")
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "upload-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name()) // gone after the rename; cleans up otherwise
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r.Body, max+1))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, tooLarge
		}
		return nil, mxhttp.InvalidParam("the upload broke off")
	}
	if n > max {
		return nil, tooLarge
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := s.scanUpload(r.Context(), tmp.Name(), sum, n, storage.Quarantined{Uploader: dev.UserID.String(),
		Filename: filename, ContentType: contentType}); err != nil {
		return nil, err
	}
	path := s.contentPath(sum)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	id, err := newMediaID()
	if err != nil {
		return nil, err
	}
	server := string(dev.UserID.Domain())
	err = s.store.Put(r.Context(), storage.Media{ServerName: server, MediaID: id, SHA256: sum, ContentType: contentType,
		Filename: filename, Size: n, Uploader: dev.UserID.String(), CreatedTS: time.Now().UnixMilli()})
	if err != nil {
		return nil, err
	}
	return map[string]string{"content_uri": "mxc://" + server + "/" + id}, nil
}

// config is GET /_matrix/client/v1/media/config (and the legacy path).
func (s *Server) config(r *http.Request, dev *userapi.Device) (any, error) {
	return map[string]int64{"m.upload.size": int64(s.cfg.MaxUploadSize)}, nil
}
