package mediaapi

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/mediaapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// The content scanner API (/_matrix/media_proxy/unstable/...), which
// Element-based apps such as the BundesMessenger call to have a file
// checked before they show it: element-hq/matrix-content-scanner-python's
// docs/api.md. rohrpost scans inside the server, so this API serves the
// same files as the media API, with the scanner's verdict and error shape
// ({"reason": "MCS_…", "info": "…"}). Every stored file was scanned on
// upload; a file stored before a scanner was configured is scanned on
// first request. Encrypted attachments are decrypted with the key the
// client sends (in the clear, or PkEncrypted to the server's key) and the
// plaintext is scanned; the plaintext is never stored.

const maxScannerBody = 64 << 10

// scannerError is an error in the content scanner's shape.
type scannerError struct {
	status       int
	reason, info string
}

func (e *scannerError) Error() string { return e.reason + ": " + e.info }

func writeScannerError(w http.ResponseWriter, err error) {
	var se *scannerError
	if !errors.As(err, &se) {
		var me *mxhttp.Error
		if errors.As(err, &me) {
			se = &scannerError{status: me.Status, reason: me.Code, info: me.Msg}
		} else {
			se = &scannerError{status: http.StatusInternalServerError, reason: "M_UNKNOWN", info: "Unexpected error"}
		}
	}
	mxhttp.WriteJSON(w, se.status, map[string]string{"reason": se.reason, "info": se.info})
}

var notClean = &scannerError{status: http.StatusForbidden, reason: "MCS_MEDIA_NOT_CLEAN", info: "***VIRUS DETECTED***"}

// scannerAuth checks the Authorization header the API requires for
// authenticated media; without one the media is "not found". It returns
// the user's server name, which asks other servers for their media.
func (s *Server) scannerAuth(r *http.Request) (spec.ServerName, error) {
	if r.Header.Get("Authorization") == "" {
		return "", &scannerError{status: http.StatusNotFound, reason: "M_NOT_FOUND", info: "Authenticated media needs an Authorization header"}
	}
	dev, err := userapi.Authenticate(s.users, r)
	if err != nil {
		return "", &scannerError{status: http.StatusBadGateway, reason: "MCS_MEDIA_REQUEST_FAILED", info: "The access token was not accepted"}
	}
	return dev.UserID.Domain(), nil
}

// mediaOf finds stored media, fetching media of other servers into the
// cache first (scanned like an upload).
func (s *Server) mediaOf(ctx context.Context, origin spec.ServerName, serverName, mediaID string) (*storage.Media, error) {
	m, err := s.media(ctx, origin, serverName, mediaID, 0, true)
	var me *mxhttp.Error
	switch {
	case err == nil:
		return m, nil
	case errors.As(err, &me) && me.Status == http.StatusNotFound, errors.Is(err, notYetUploaded):
		return nil, &scannerError{status: http.StatusNotFound, reason: "M_NOT_FOUND", info: "Unknown media"}
	case errors.As(err, &me) && me.Status == http.StatusForbidden && s.refusedAsInfected(ctx, serverName, mediaID):
		return nil, notClean
	case errors.As(err, &me) && me.Status >= 500:
		return nil, &scannerError{status: http.StatusBadGateway, reason: "MCS_MEDIA_REQUEST_FAILED", info: me.Msg}
	}
	return nil, err
}

// verdict is the scan result of stored content, scanning it now if it
// never was.
func (s *Server) verdict(ctx context.Context, sha string) (*storage.ScanResult, error) {
	prior, err := s.store.ScanResult(ctx, sha)
	if err != nil || prior != nil {
		return prior, err
	}
	if s.scanner == nil {
		return &storage.ScanResult{}, nil
	}
	f, err := os.Open(s.contentPath(sha))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return s.scanReader(ctx, f, sha)
}

// scanReader scans r and remembers the verdict under sha when set.
func (s *Server) scanReader(ctx context.Context, r io.Reader, sha string) (*storage.ScanResult, error) {
	if s.scanner == nil {
		return &storage.ScanResult{}, nil
	}
	scanCtx, cancel := context.WithTimeout(ctx, scanTimeout)
	defer cancel()
	res, err := s.scanner.Scan(scanCtx, r)
	s.scans.record(res, err)
	if err != nil {
		return nil, &scannerError{status: http.StatusBadGateway, reason: "MCS_MEDIA_REQUEST_FAILED", info: "The virus scanner is not available"}
	}
	v := &storage.ScanResult{Infected: res.Infected, Signature: res.Signature}
	if sha != "" {
		if err := s.store.PutScanResult(ctx, sha, *v, time.Now().UnixMilli()); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// pathVerdict authenticates a request for the media of its path and
// returns the media's verdict.
func (s *Server) pathVerdict(r *http.Request) (spec.ServerName, *storage.ScanResult, error) {
	origin, err := s.scannerAuth(r)
	if err != nil {
		return "", nil, err
	}
	v := mux.Vars(r)
	m, err := s.mediaOf(r.Context(), origin, v["serverName"], v["mediaId"])
	if err != nil {
		return "", nil, err
	}
	verdict, err := s.verdict(r.Context(), m.SHA256)
	return origin, verdict, err
}

// scannerServe is GET …/download/{serverName}/{mediaId} (serve) and
// …/thumbnail/{serverName}/{mediaId} (serveThumbnail): clean media only.
func (s *Server) scannerServe(serve mediaHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		origin, verdict, err := s.pathVerdict(r)
		if err == nil && verdict.Infected {
			err = notClean
		}
		if err != nil {
			writeScannerError(w, err)
			return
		}
		serve(w, r, origin)
	}
}

// scannerScan is GET …/scan/{serverName}/{mediaId}.
func (s *Server) scannerScan(w http.ResponseWriter, r *http.Request) {
	_, verdict, err := s.pathVerdict(r)
	if err != nil {
		writeScannerError(w, err)
		return
	}
	writeVerdict(w, verdict)
}

func writeVerdict(w http.ResponseWriter, v *storage.ScanResult) {
	if v.Infected {
		mxhttp.WriteJSON(w, http.StatusOK, map[string]any{"clean": false, "info": "***VIRUS DETECTED***"})
		return
	}
	mxhttp.WriteJSON(w, http.StatusOK, map[string]any{"clean": true, "info": "File is clean"})
}

// encryptedFile is the spec's EncryptedFile.
type encryptedFile struct {
	URL string `json:"url"`
	Key struct {
		Alg string `json:"alg"`
		K   string `json:"k"`
	} `json:"key"`
	IV     string            `json:"iv"`
	Hashes map[string]string `json:"hashes"`
	V      string            `json:"v"`
}

// badEncryptedBody is the one answer to every failure of a request whose
// file came in an encrypted_body: nothing may tell a bad padding from bad
// JSON inside or a file that does not decrypt (see pkdecrypt.go).
var badEncryptedBody = &scannerError{status: http.StatusForbidden, reason: "MCS_BAD_DECRYPTION", info: "The encrypted body could not be decrypted"}

// readEncryptedRequest reads {file} or {encrypted_body} (which wins), and
// tells which one it was.
func (s *Server) readEncryptedRequest(r *http.Request) (*encryptedFile, bool, error) {
	var body struct {
		File          *encryptedFile `json:"file"`
		EncryptedBody *pkMessage     `json:"encrypted_body"`
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxScannerBody+1))
	if err != nil || len(raw) > maxScannerBody || json.Unmarshal(raw, &body) != nil {
		return nil, false, &scannerError{status: http.StatusBadRequest, reason: "MCS_MALFORMED_JSON", info: "The body is not the expected JSON"}
	}
	if body.EncryptedBody != nil {
		f, err := pkDecrypt(s.pkKey, *body.EncryptedBody)
		if err != nil {
			return nil, true, badEncryptedBody
		}
		return f, true, nil
	}
	if body.File == nil {
		return nil, false, &scannerError{status: http.StatusBadRequest, reason: "MCS_MALFORMED_JSON", info: "file or encrypted_body is required"}
	}
	return body.File, false, nil
}

// decryptAttachment checks the ciphertext's hash and decrypts it
// (AES-256-CTR, as the spec's encrypted attachments are).
func decryptAttachment(f *encryptedFile, ciphertext []byte) ([]byte, error) {
	bad := &scannerError{status: http.StatusBadRequest, reason: "MCS_MEDIA_FAILED_TO_DECRYPT", info: "The file could not be decrypted"}
	key, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(f.Key.K, "="))
	if err != nil || len(key) != 32 || (f.Key.Alg != "" && f.Key.Alg != "A256CTR") {
		return nil, bad
	}
	iv, err := unpadded(f.IV)
	if err != nil || len(iv) != aes.BlockSize {
		return nil, bad
	}
	want, err := unpadded(f.Hashes["sha256"])
	sum := sha256.Sum256(ciphertext)
	if err != nil || !bytes.Equal(want, sum[:]) {
		return nil, &scannerError{status: http.StatusForbidden, reason: "MCS_BAD_DECRYPTION", info: "The file does not match its hash"}
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, bad
	}
	plain := make([]byte, len(ciphertext))
	cipher.NewCTR(block, iv).XORKeyStream(plain, ciphertext)
	return plain, nil
}

// scannerEncrypted is POST …/download_encrypted (download) and
// …/scan_encrypted.
func (s *Server) scannerEncrypted(download bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		origin, err := s.scannerAuth(r)
		if err != nil {
			writeScannerError(w, err)
			return
		}
		f, sealed, err := s.readEncryptedRequest(r)
		if err != nil {
			writeScannerError(w, err)
			return
		}
		// What was decrypted from an encrypted_body is judged with one
		// answer for every fault, so that a tampered body learns nothing
		// of the plaintext (the attachment's key) from the way it fails.
		fail := func(err error) {
			if sealed && err != notClean && !isServerFault(err) {
				err = badEncryptedBody
			}
			writeScannerError(w, err)
		}
		server, id, ok := strings.Cut(strings.TrimPrefix(f.URL, "mxc://"), "/")
		if !ok || !strings.HasPrefix(f.URL, "mxc://") {
			fail(&scannerError{status: http.StatusBadRequest, reason: "MCS_MALFORMED_JSON", info: "file.url is not an mxc URI"})
			return
		}
		m, err := s.mediaOf(r.Context(), origin, server, id)
		if err != nil {
			fail(err)
			return
		}
		if m.Size > int64(s.cfg.ContentScanner.MaxScanSize) {
			writeScannerError(w, &scannerError{status: http.StatusForbidden, reason: "MCS_MEDIA_NOT_CLEAN", info: "The file is too large to be scanned"})
			return
		}
		ciphertext, err := os.ReadFile(s.contentPath(m.SHA256))
		if err != nil {
			writeScannerError(w, err)
			return
		}
		plain, err := decryptAttachment(f, ciphertext)
		if err != nil {
			fail(err)
			return
		}
		verdict, err := s.scanReader(r.Context(), bytes.NewReader(plain), "")
		if err != nil {
			writeScannerError(w, err)
			return
		}
		if !download {
			writeVerdict(w, verdict)
			return
		}
		if verdict.Infected {
			writeScannerError(w, notClean)
			return
		}
		r = mux.SetURLVars(r, map[string]string{"serverName": server, "mediaId": id})
		s.serve(w, r, origin)
	}
}

// isServerFault tells whether err is this server's trouble (a 5xx), which
// says nothing about what a client sent.
func isServerFault(err error) bool {
	var se *scannerError
	if errors.As(err, &se) {
		return se.status >= 500
	}
	var me *mxhttp.Error
	if errors.As(err, &me) {
		return me.Status >= 500
	}
	return true
}

// scannerPublicKey is GET …/public_key.
func (s *Server) scannerPublicKey(w http.ResponseWriter, r *http.Request) {
	mxhttp.WriteJSON(w, http.StatusOK, map[string]string{"public_key": string(s.pkKey.PublicKey())})
}
