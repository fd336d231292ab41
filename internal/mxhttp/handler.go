package mxhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"unicode/utf8"
)

// Response lets a handler choose a status other than 200.
type Response struct {
	Status int
	Body   any
}

// Handler returns the JSON body to send, or an error for WriteError.
type Handler func(r *http.Request) (any, error)

// ServeHTTP writes the outcome of h, and turns a panic into a 500 so one bad
// request cannot take the server down.
func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			slog.Error("handler panic", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			WriteError(w, r, fmt.Errorf("panic: %v", p))
		}
	}()
	body, err := h(r)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if resp, ok := body.(Response); ok {
		WriteJSON(w, resp.Status, resp.Body)
		return
	}
	if body == nil {
		body = json.RawMessage(`{}`)
	}
	WriteJSON(w, http.StatusOK, body)
}

// DefaultMaxBody bounds request bodies that are not events or media.
const DefaultMaxBody = 1 << 20

// ReadBody reads at most limit bytes of the body, or fails with M_TOO_LARGE.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, TooLarge(fmt.Sprintf("request body exceeds %d bytes", limit))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, Unknown("could not read request body")
	}
	if int64(len(body)) > limit {
		return nil, TooLarge(fmt.Sprintf("request body exceeds %d bytes", limit))
	}
	return body, nil
}

// DecodeJSON reads a JSON object body into v: M_NOT_JSON when it is empty
// or not JSON, M_BAD_JSON when it is JSON but not an object or does not
// fit v.
func DecodeJSON(r *http.Request, limit int64, v any) error {
	body, err := ReadBody(r, limit)
	if err != nil {
		return err
	}
	return Unmarshal(body, v)
}

// Unmarshal is DecodeJSON for a body already read. An empty body is not
// read as {}: where the spec requires a body, a request without one is a
// client error (EmptyBodyIsObject marks the endpoints that accept one).
func Unmarshal(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return NotJSON("The request body is empty; it must be a JSON object.")
	}
	// encoding/json would quietly replace invalid UTF-8; the spec wants
	// such a body refused as not JSON.
	if !utf8.Valid(body) || !json.Valid(body) {
		return NotJSON("Content not JSON.")
	}
	if body[0] != '{' {
		return BadJSON("Content must be a JSON object.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return BadJSON(fmt.Sprintf("field %q has the wrong type", te.Field))
		}
		return BadJSON("invalid JSON: " + err.Error())
	}
	return nil
}

// EmptyBodyIsObject serves h with an empty request body read as {}. It is
// for the few endpoints whose body holds only optional fields and that
// clients in use call without one (joining and leaving a room, deleting a
// device to learn its authentication flows); everywhere else an empty
// body is M_NOT_JSON.
func EmptyBodyIsObject(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader("{}")), 2
		} else {
			r.Body = &emptyIsObject{body: r.Body}
		}
		h.ServeHTTP(w, r)
	})
}

// emptyIsObject reads {} in place of a body of unknown length that turns
// out to be empty.
type emptyIsObject struct {
	body    io.ReadCloser
	started bool
	rest    io.Reader
}

func (e *emptyIsObject) Read(p []byte) (int, error) {
	if e.rest != nil {
		return e.rest.Read(p)
	}
	n, err := e.body.Read(p)
	if n > 0 {
		e.started = true
	}
	if err == io.EOF && !e.started {
		e.rest = strings.NewReader("{}")
		return e.rest.Read(p)
	}
	return n, err
}

func (e *emptyIsObject) Close() error { return e.body.Close() }
