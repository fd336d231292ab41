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

// DecodeJSON reads a JSON object body into v: M_NOT_JSON when it is not
// JSON (or not an object), M_BAD_JSON when it does not fit v.
func DecodeJSON(r *http.Request, limit int64, v any) error {
	body, err := ReadBody(r, limit)
	if err != nil {
		return err
	}
	return Unmarshal(body, v)
}

// Unmarshal is DecodeJSON for a body already read.
func Unmarshal(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	// encoding/json would quietly replace invalid UTF-8; the spec wants
	// such a body refused as not JSON.
	if !json.Valid(body) || body[0] != '{' || !utf8.Valid(body) {
		return NotJSON("Content not JSON.")
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
