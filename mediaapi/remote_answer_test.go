package mediaapi

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

const testBoundary = "b0undary"

func multipartBody(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString("--" + testBoundary + "\r\n" + p + "\r\n")
	}
	b.WriteString("--" + testBoundary + "--\r\n")
	return b.String()
}

func TestParseMultipartAnswer(t *testing.T) {
	ct := "multipart/mixed; boundary=" + testBoundary
	meta := "Content-Type: application/json\r\n\r\n{}"
	tests := []struct {
		name, contentType, body string
		wantErr                 bool
		content, typ, filename  string
		location                string
	}{
		{name: "content", contentType: ct, body: multipartBody(meta,
			"Content-Type: text/plain\r\nContent-Disposition: inline; filename*=utf-8''Gr%C3%BC%C3%9Fe.txt\r\n\r\nhallo"),
			content: "hallo", typ: "text/plain", filename: "Grüße.txt"},
		{name: "plain filename", contentType: ct, body: multipartBody(meta,
			"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a b.pdf\"\r\n\r\n%PDF"),
			content: "%PDF", typ: "application/pdf", filename: "a b.pdf"},
		{name: "location", contentType: ct, body: multipartBody(meta, "Location: https://cdn.example/x\r\n\r\n"),
			location: "https://cdn.example/x"},
		{name: "metadata with fields", contentType: ct, body: multipartBody("Content-Type: application/json; charset=utf-8\r\n\r\n{\"a\":1}",
			"Content-Type: text/plain\r\n\r\nx"), content: "x", typ: "text/plain"},
		{name: "not multipart", contentType: "text/plain", body: "hallo", wantErr: true},
		{name: "no boundary", contentType: "multipart/mixed", body: multipartBody(meta, "\r\nx"), wantErr: true},
		{name: "metadata not json", contentType: ct, body: multipartBody("Content-Type: application/json\r\n\r\nnope", "\r\nx"), wantErr: true},
		{name: "metadata not an object", contentType: ct, body: multipartBody("Content-Type: application/json\r\n\r\n[]", "\r\nx"), wantErr: true},
		{name: "metadata of another type", contentType: ct, body: multipartBody("Content-Type: text/plain\r\n\r\n{}", "\r\nx"), wantErr: true},
		{name: "one part only", contentType: ct, body: multipartBody(meta), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseMultipartAnswer(tc.contentType, strings.NewReader(tc.body))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Location != tc.location || f.ContentType != tc.typ || f.Filename != tc.filename {
				t.Fatalf("got %+v", f)
			}
			if tc.location != "" {
				return
			}
			got, err := io.ReadAll(f.Body)
			if err != nil || string(got) != tc.content {
				t.Fatalf("content %q (%v)", got, err)
			}
		})
	}
}

func TestParseMultipartAnswerTruncated(t *testing.T) {
	body := "--" + testBoundary + "\r\nContent-Type: application/json\r\n\r\n{}\r\n--" + testBoundary + "\r\nContent-Type: text/plain\r\n\r\nhalf of the fi"
	f, err := parseMultipartAnswer("multipart/mixed; boundary="+testBoundary, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(f.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading a truncated answer: %v", err)
	}
}

// FuzzParseMultipartAnswer: another server's answer never panics the
// parser, and the content is never more than was sent.
func FuzzParseMultipartAnswer(f *testing.F) {
	ct := "multipart/mixed; boundary=" + testBoundary
	f.Add(ct, []byte(multipartBody("Content-Type: application/json\r\n\r\n{}", "Content-Type: image/png\r\n\r\n\x89PNG")))
	f.Add(ct, []byte(multipartBody("Content-Type: application/json\r\n\r\n{}", "Location: https://x/y\r\n\r\n")))
	f.Add("multipart/mixed; boundary=\"a\"", []byte("--a\r\n\r\n--a--"))
	f.Add("text/plain", []byte("x"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		file, err := parseMultipartAnswer(contentType, bytes.NewReader(body))
		if err != nil || file.Location != "" {
			return
		}
		n, _ := io.Copy(io.Discard, file.Body)
		if n > int64(len(body)) {
			t.Fatalf("%d content bytes from a %d-byte answer", n, len(body))
		}
	})
}
