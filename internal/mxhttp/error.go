package mxhttp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
)

// Error is a Matrix error as it goes on the wire.
type Error struct {
	Status int
	Code   string
	Msg    string
	// Extra fields merged into the JSON body (retry_after_ms, soft_logout…).
	Extra map[string]any
}

func (e *Error) Error() string { return e.Code + ": " + e.Msg }

// MarshalJSON writes {"errcode", "error", …Extra}.
func (e *Error) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, 2+len(e.Extra))
	for k, v := range e.Extra {
		m[k] = v
	}
	m["errcode"] = e.Code
	m["error"] = e.Msg
	return json.Marshal(m)
}

func newErr(status int, code string) func(msg string) *Error {
	return func(msg string) *Error { return &Error{Status: status, Code: code, Msg: msg} }
}

// Constructors for the spec's error codes.
var (
	Forbidden          = newErr(http.StatusForbidden, "M_FORBIDDEN")
	Unauthorized       = newErr(http.StatusUnauthorized, "M_UNAUTHORIZED")
	UnknownToken       = newErr(http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
	MissingToken       = newErr(http.StatusUnauthorized, "M_MISSING_TOKEN")
	BadJSON            = newErr(http.StatusBadRequest, "M_BAD_JSON")
	NotJSON            = newErr(http.StatusBadRequest, "M_NOT_JSON")
	NotFound           = newErr(http.StatusNotFound, "M_NOT_FOUND")
	TooLarge           = newErr(http.StatusRequestEntityTooLarge, "M_TOO_LARGE")
	InvalidParam       = newErr(http.StatusBadRequest, "M_INVALID_PARAM")
	MissingParam       = newErr(http.StatusBadRequest, "M_MISSING_PARAM")
	UserInUse          = newErr(http.StatusBadRequest, "M_USER_IN_USE")
	InvalidUsername    = newErr(http.StatusBadRequest, "M_INVALID_USERNAME")
	Exclusive          = newErr(http.StatusBadRequest, "M_EXCLUSIVE")
	RoomInUse          = newErr(http.StatusBadRequest, "M_ROOM_IN_USE")
	InvalidRoomState   = newErr(http.StatusBadRequest, "M_INVALID_ROOM_STATE")
	UnsupportedVersion = newErr(http.StatusBadRequest, "M_UNSUPPORTED_ROOM_VERSION")
	BadState           = newErr(http.StatusBadRequest, "M_BAD_STATE")
	BadAlias           = newErr(http.StatusBadRequest, "M_BAD_ALIAS")
	GuestAccess        = newErr(http.StatusForbidden, "M_GUEST_ACCESS_FORBIDDEN")
	UserDeactivated    = newErr(http.StatusForbidden, "M_USER_DEACTIVATED")
	WeakPassword       = newErr(http.StatusBadRequest, "M_WEAK_PASSWORD")
	Unknown            = newErr(http.StatusBadRequest, "M_UNKNOWN")
	Internal           = newErr(http.StatusInternalServerError, "M_UNKNOWN")
)

// LimitExceeded is 429 M_LIMIT_EXCEEDED with retry_after_ms; WriteError
// adds the Retry-After header (whole seconds, rounded up).
func LimitExceeded(retryAfterMS int64) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "M_LIMIT_EXCEEDED", Msg: "Too many requests",
		Extra: map[string]any{"retry_after_ms": retryAfterMS}}
}

// Unrecognized answers an unknown endpoint (404) or a known endpoint with
// the wrong method (405).
func Unrecognized(status int) *Error {
	return &Error{Status: status, Code: "M_UNRECOGNIZED", Msg: "Unrecognized request"}
}

// WriteError translates err to the wire. This is the only place an error
// becomes a status code; anything that is not an *Error is logged and
// answered with a 500 that reveals nothing.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var mx *Error
	switch {
	case errors.As(err, &mx):
	case Canceled(r.Context(), err):
		mx = &Error{Status: http.StatusServiceUnavailable, Code: "M_UNKNOWN", Msg: "request cancelled"}
	default:
		slog.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		mx = Internal("Internal server error")
	}
	if mx.Status == http.StatusTooManyRequests {
		switch ms := mx.Extra["retry_after_ms"].(type) {
		case int64:
			w.Header().Set("Retry-After", strconv.FormatInt((ms+999)/1000, 10))
		case float64: // from another process, through JSON
			w.Header().Set("Retry-After", strconv.FormatInt((int64(ms)+999)/1000, 10))
		}
	}
	WriteJSON(w, mx.Status, mx)
}

// WriteJSON writes v as a JSON body.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var body []byte
	switch b := v.(type) {
	case json.RawMessage:
		body = b
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(v); err != nil {
			slog.Error("marshal response", "err", err)
			status, body = http.StatusInternalServerError, []byte(`{"errcode":"M_UNKNOWN","error":"Internal server error"}`)
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Canceled tells whether err says only that the work for ctx was cut
// short: its context was canceled or ran out, or, ctx being done, the
// database canceled the statement. PostgreSQL answers a statement that
// lib/pq cancels for a done context with "canceling statement due to user
// request" (SQLSTATE 57014, query_canceled), not with the context's
// error; that is a client that hung up, not an internal error. The same
// SQLSTATE with ctx still live (statement_timeout) is a real failure.
func Canceled(ctx context.Context, err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	return ctx != nil && ctx.Err() != nil && queryCanceled(err)
}

// sqlQueryCanceled is PostgreSQL's SQLSTATE query_canceled.
const sqlQueryCanceled = "57014"

// queryCanceled tells whether err is a database error with SQLSTATE
// 57014; lib/pq's *pq.Error has SQLState, and mxhttp need not import the
// driver.
func queryCanceled(err error) bool {
	var st interface{ SQLState() string }
	return errors.As(err, &st) && st.SQLState() == sqlQueryCanceled
}
