package clientapi

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ui_auth.session_timeout (Synapse's key): one successful
// user-interactive authentication of a device covers that device's
// further reusable operations (deleting devices, uploading cross-signing
// keys) for the configured time, so that an app does not ask for the
// password twice in a row. The dangerous operations (password change,
// deactivation, adding an address) always ask. The time of the last
// authentication is kept with the sessions, in the bucket every replica
// shares.

// reuseKey is the bucket key of a device's last authentication.
func reuseKey(op uiaOp) string {
	return "authed." + base64.RawURLEncoding.EncodeToString([]byte(op.user.String()+"|"+op.reuseDevice))
}

func (s *Server) reuseAllowed(op uiaOp) bool {
	return s.cfg.UIAuth.SessionTimeout > 0 && op.user != nil && op.reuseDevice != ""
}

// authenticatedRecently tells whether the device authenticated within
// the session timeout.
func (s *Server) authenticatedRecently(ctx context.Context, op uiaOp) bool {
	if !s.reuseAllowed(op) {
		return false
	}
	e, err := s.uia.kv.Get(ctx, reuseKey(op))
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			slog.Warn("clientapi: reading the last authentication", "err", err)
		}
		return false
	}
	ms, err := strconv.ParseInt(string(e.Value()), 10, 64)
	if err != nil {
		return false
	}
	return time.Since(time.UnixMilli(ms)) < time.Duration(s.cfg.UIAuth.SessionTimeout)
}

// noteAuthenticated records a completed authentication of the device.
func (s *Server) noteAuthenticated(ctx context.Context, op uiaOp) {
	if !s.reuseAllowed(op) {
		return
	}
	if _, err := s.uia.kv.Put(ctx, reuseKey(op), []byte(strconv.FormatInt(time.Now().UnixMilli(), 10))); err != nil {
		slog.Warn("clientapi: recording an authentication", "err", err)
	}
}
