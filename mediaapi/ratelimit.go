package mediaapi

import (
	"errors"
	"net"
	"net/http"
	"strconv"

	"github.com/rohrpost/rohrpost/internal/mxhttp"

	"github.com/rohrpost/rohrpost/internal/ratelimit"
	"github.com/rohrpost/rohrpost/userapi"
)

// rateLimitedCreate is POST /_matrix/media/v1/create within
// rc_media_create, per user; admins are spared.
func (s *Server) rateLimitedCreate(r *http.Request, dev *userapi.Device) (any, error) {
	if !dev.IsAdmin {
		if err := s.limits.Take(r.Context(), ratelimit.RuleOf("rc_media_create", s.cfg.RCMediaCreate), dev.UserID.String()); err != nil {
			return nil, ratelimit.Error(err)
		}
	}
	return s.create(r, dev)
}

// scannerRateLimited bounds the content scanner API's decrypting
// endpoints per client address (rc_content_scanner), for everyone: each
// request is one probe of an encrypted_body, and an attacker is not
// slowed down by who they are but by how often they may ask. The answer
// is in the scanner's error shape.
func (s *Server) scannerRateLimited(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ip, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			ip = r.RemoteAddr
		}
		var lim *ratelimit.Limited
		if err := s.limits.Take(r.Context(), ratelimit.RuleOf("rc_content_scanner", s.cfg.RCContentScanner), ip); errors.As(err, &lim) {
			ms := ratelimit.RetryAfterMS(lim.RetryAfter)
			w.Header().Set("Retry-After", strconv.FormatInt((ms+999)/1000, 10))
			mxhttp.WriteJSON(w, http.StatusTooManyRequests, map[string]any{"reason": "M_LIMIT_EXCEEDED", "info": "Too many requests", "retry_after_ms": ms})
			return
		}
		h(w, r)
	}
}
