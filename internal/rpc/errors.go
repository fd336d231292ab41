package rpc

import (
	"context"
	"errors"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// wireError carries an error across processes. A Matrix error keeps its
// status and errcode; a sentinel keeps its identity for errors.Is; the rest
// keeps its text.
type wireError struct {
	Sentinel string         `json:"sentinel,omitempty"`
	Message  string         `json:"message"`
	Status   int            `json:"status,omitempty"`
	Errcode  string         `json:"errcode,omitempty"`
	Extra    map[string]any `json:"extra,omitempty"`
}

// contextErrors cross the wire for every service: a call cut short by its
// deadline on the server is the caller's deadline too.
var contextErrors = []error{context.DeadlineExceeded, context.Canceled}

func encodeError(err error, sentinels []error) *wireError {
	sentinels = append(contextErrors[:len(contextErrors):len(contextErrors)], sentinels...)
	var mx *mxhttp.Error
	if errors.As(err, &mx) {
		return &wireError{Message: mx.Msg, Status: mx.Status, Errcode: mx.Code, Extra: mx.Extra}
	}
	w := &wireError{Message: err.Error()}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			w.Sentinel = s.Error()
			break
		}
	}
	return w
}

func (w *wireError) decode(sentinels []error) error {
	sentinels = append(contextErrors[:len(contextErrors):len(contextErrors)], sentinels...)
	if w.Errcode != "" {
		return &mxhttp.Error{Status: w.Status, Code: w.Errcode, Msg: w.Message, Extra: w.Extra}
	}
	for _, s := range sentinels {
		if s.Error() == w.Sentinel {
			return &remoteError{sentinel: s, msg: w.Message}
		}
	}
	return errors.New(w.Message)
}

// remoteError is a sentinel error with the message the server gave.
type remoteError struct {
	sentinel error
	msg      string
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }
