package mediaapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/mediaapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// received is an upload that passed the checks, stored by content.
type received struct {
	sum, contentType, filename string
	size                       int64
}

// upload is POST /_matrix/media/v3/upload.
func (s *Server) upload(r *http.Request, dev *userapi.Device) (any, error) {
	got, err := s.receive(r, dev)
	if err != nil {
		return nil, err
	}
	mxc, err := s.addMedia(r.Context(), dev, got)
	if err != nil {
		return nil, err
	}
	return map[string]string{"content_uri": mxc}, nil
}

// addMedia gives received content a new media id of the uploader and
// starts its thumbnails; it returns the mxc URI.
func (s *Server) addMedia(ctx context.Context, dev *userapi.Device, got *received) (string, error) {
	id, err := newMediaID()
	if err != nil {
		return "", err
	}
	server := string(dev.UserID.Domain())
	m := storage.Media{ServerName: server, MediaID: id, SHA256: got.sum, ContentType: got.contentType,
		Filename: got.filename, Size: got.size, Uploader: dev.UserID.String(), CreatedTS: time.Now().UnixMilli()}
	if err := s.store.Put(ctx, m); err != nil {
		return "", err
	}
	s.pregenerate(m)
	return "mxc://" + server + "/" + id, nil
}

// receive is ingest for an upload request's body, type and file name.
func (s *Server) receive(r *http.Request, dev *userapi.Device) (*received, error) {
	return s.ingest(r.Context(), dev, r.Body, r.ContentLength, r.Header.Get("Content-Type"), r.URL.Query().Get("filename"))
}

// ingest checks an upload's type, name and the uploader's quota, then
// stores its content (storeContent). A length of -1 is unknown.
func (s *Server) ingest(ctx context.Context, dev *userapi.Device, body io.Reader, length int64, contentType, filename string) (*received, error) {
	if length > int64(s.cfg.MaxUploadSize) {
		return nil, errTooLarge
	}
	got := &received{contentType: contentType, filename: filename}
	if got.contentType == "" {
		got.contentType = "application/octet-stream"
	} else if _, _, err := mime.ParseMediaType(got.contentType); err != nil {
		return nil, mxhttp.InvalidParam("Content-Type is not a media type")
	}
	if len(got.filename) > maxFilenameLength {
		return nil, mxhttp.InvalidParam("filename is too long")
	}
	if quota := int64(s.cfg.MediaQuotaPerUser); quota > 0 {
		used, err := s.store.UploadedBytes(ctx, dev.UserID.String())
		if err != nil {
			return nil, err
		}
		if used+max(length, 0) > quota {
			return nil, s.quotaExceeded()
		}
	}
	q := storage.Quarantined{Uploader: dev.UserID.String(), Filename: got.filename, ContentType: got.contentType}
	if err := s.storeContent(ctx, body, got, q); err != nil {
		return nil, err
	}
	return got, nil
}

const maxFilenameLength = 255

var (
	errTooLarge  = &mxhttp.Error{Status: http.StatusRequestEntityTooLarge, Code: "M_TOO_LARGE", Msg: "The file is larger than this server accepts"}
	errBrokenOff = mxhttp.InvalidParam("the upload broke off")
)

// storeContent streams body to a temporary file while it is hashed (never
// holding it in memory), bounded by max_upload_size (errTooLarge), has it
// scanned, and moves it to its content path unless an identical file is
// there already. It sets got's sum and size; q describes the file should
// the scanner refuse it.
func (s *Server) storeContent(ctx context.Context, body io.Reader, got *received, q storage.Quarantined) error {
	limit := int64(s.cfg.MaxUploadSize)
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone after the rename; cleans up otherwise
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(body, limit+1))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return errTooLarge
		}
		return errBrokenOff
	}
	if n > limit {
		return errTooLarge
	}
	got.sum, got.size = hex.EncodeToString(h.Sum(nil)), n
	if err := s.scanUpload(ctx, tmp.Name(), got.sum, n, q); err != nil {
		return err
	}
	path := s.contentPath(got.sum)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	return nil
}

// Asynchronous uploads: a client reserves a media id first (so it can
// send the message with the mxc URI at once) and uploads the content
// within a day.
const (
	pendingLifetime   = 24 * time.Hour
	maxPendingPerUser = 50
)

// create is POST /_matrix/media/v1/create.
func (s *Server) create(r *http.Request, dev *userapi.Device) (any, error) {
	now := time.Now()
	n, err := s.store.PendingCount(r.Context(), dev.UserID.String(), now.UnixMilli())
	if err != nil {
		return nil, err
	}
	if n >= maxPendingPerUser {
		return nil, &mxhttp.Error{Status: http.StatusTooManyRequests, Code: "M_LIMIT_EXCEEDED", Msg: "Too many media ids wait for their content"}
	}
	id, err := newMediaID()
	if err != nil {
		return nil, err
	}
	server := string(dev.UserID.Domain())
	expires := now.Add(pendingLifetime).UnixMilli()
	if err := s.store.Put(r.Context(), storage.Media{ServerName: server, MediaID: id, Uploader: dev.UserID.String(),
		CreatedTS: now.UnixMilli(), ExpiresTS: expires}); err != nil {
		return nil, err
	}
	return map[string]any{"content_uri": "mxc://" + server + "/" + id, "unused_expires_at": expires}, nil
}

// uploadTo is PUT /_matrix/media/v3/upload/{serverName}/{mediaId}: the
// content of a media id from create, by the user who made it.
func (s *Server) uploadTo(r *http.Request, dev *userapi.Device) (any, error) {
	v := mux.Vars(r)
	m, err := s.store.Get(r.Context(), v["serverName"], v["mediaId"])
	if errors.Is(err, storage.ErrNotFound) || (err == nil && m.Uploader != dev.UserID.String()) {
		return nil, mxhttp.NotFound("Unknown media id")
	}
	if err != nil {
		return nil, err
	}
	if !m.Pending() {
		return nil, &mxhttp.Error{Status: http.StatusConflict, Code: "M_CANNOT_OVERWRITE_MEDIA", Msg: "This media id has its content already"}
	}
	if time.Now().UnixMilli() > m.ExpiresTS {
		return nil, mxhttp.NotFound("This media id expired")
	}
	got, err := s.receive(r, dev)
	if err != nil {
		return nil, err
	}
	m.SHA256, m.ContentType, m.Filename, m.Size = got.sum, got.contentType, got.filename, got.size
	if err := s.store.Fill(r.Context(), *m); errors.Is(err, storage.ErrNotPending) {
		return nil, &mxhttp.Error{Status: http.StatusConflict, Code: "M_CANNOT_OVERWRITE_MEDIA", Msg: "This media id has its content already"}
	} else if err != nil {
		return nil, err
	}
	s.pregenerate(*m)
	return struct{}{}, nil
}

// config is GET /_matrix/client/v1/media/config (and the legacy path).
func (s *Server) config(r *http.Request, dev *userapi.Device) (any, error) {
	return map[string]int64{"m.upload.size": int64(s.cfg.MaxUploadSize)}, nil
}

// quotaExceeded is the spec's answer (v1.18) to a user over their media
// quota: 403, as for every refused upload, with M_USER_LIMIT_EXCEEDED and
// the page that explains the limit.
func (s *Server) quotaExceeded() error {
	info := s.cfg.LimitsInfoURI
	if info == "" {
		info = s.cfg.PublicBaseURL
	}
	return &mxhttp.Error{Status: http.StatusForbidden, Code: "M_USER_LIMIT_EXCEEDED", Msg: "Your media quota is used up",
		Extra: map[string]any{"info_uri": info, "can_upgrade": false}}
}
