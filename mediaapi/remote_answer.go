package mediaapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
)

// maxRemoteMetadata bounds the JSON part of a federation media answer.
const maxRemoteMetadata = 64 << 10

// remoteFile is the content of another server's answer, read as it
// streams.
type remoteFile struct {
	Body                  io.Reader
	ContentType, Filename string
	// Length is the announced length of Body, -1 when unknown.
	Length int64
	// Location is set instead when the answer sends us elsewhere for the
	// content.
	Location string
	closer   io.Closer
}

func (f *remoteFile) Close() {
	if f.closer != nil {
		_ = f.closer.Close()
	}
}

// plainAnswer is the answer of a legacy download or of a Location: the
// body is the content.
func plainAnswer(resp *http.Response) *remoteFile {
	return &remoteFile{Body: resp.Body, ContentType: resp.Header.Get("Content-Type"), Length: resp.ContentLength,
		Filename: dispositionFilename(resp.Header.Get("Content-Disposition")), closer: resp.Body}
}

// readMultipartAnswer reads a federation media answer up to its content.
func readMultipartAnswer(resp *http.Response) (*remoteFile, error) {
	f, err := parseMultipartAnswer(resp.Header.Get("Content-Type"), resp.Body)
	if err != nil {
		return nil, err
	}
	f.closer = resp.Body
	return f, nil
}

// parseMultipartAnswer reads the spec's multipart/mixed answer of
// /_matrix/federation/v1/media/download and /thumbnail: exactly two parts,
// first the metadata (an application/json object, today always {}), then
// either the content with its Content-Type and Content-Disposition or a
// Location header naming where the content is. The content is not read
// here; reading it to its end checks the closing boundary, so a truncated
// answer fails with io.ErrUnexpectedEOF.
func parseMultipartAnswer(contentType string, body io.Reader) (*remoteFile, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return nil, fmt.Errorf("content type %q is not multipart/mixed with a boundary", contentType)
	}
	mr := multipart.NewReader(body, params["boundary"])
	meta, err := mr.NextRawPart()
	if err != nil {
		return nil, fmt.Errorf("metadata part: %w", err)
	}
	if mt, _, err := mime.ParseMediaType(meta.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, errors.New("the metadata part is not application/json")
	}
	raw, err := io.ReadAll(io.LimitReader(meta, maxRemoteMetadata+1))
	if err != nil {
		return nil, fmt.Errorf("metadata part: %w", err)
	}
	if raw = bytes.TrimSpace(raw); len(raw) > maxRemoteMetadata || len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return nil, errors.New("the metadata is not a JSON object")
	}
	content, err := mr.NextRawPart()
	if err != nil {
		return nil, fmt.Errorf("content part: %w", err)
	}
	if loc := content.Header.Get("Location"); loc != "" {
		return &remoteFile{Location: loc, Length: -1}, nil
	}
	return &remoteFile{Body: content, ContentType: content.Header.Get("Content-Type"), Length: -1,
		Filename: dispositionFilename(content.Header.Get("Content-Disposition"))}, nil
}

// dispositionFilename is the file name of a Content-Disposition header
// (filename*, RFC 5987, wins over filename), or "".
func dispositionFilename(header string) string {
	_, params, err := mime.ParseMediaType(header)
	if err != nil {
		return ""
	}
	return params["filename"]
}
