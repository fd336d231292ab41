package clientapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/ratelimit"
	"github.com/rohrpost/rohrpost/userapi"
)

// The rc_* limits of the client API (docs/decisions/0018). Limits per
// user spare server admins; appservice users would be spared alike, but
// rohrpost has no appservices yet. Limits per client address apply to
// everyone, before anyone is known.

func (s *Server) rule(name string) ratelimit.Rule {
	l := s.cfg.RateLimits
	switch name {
	case "rc_message":
		return ratelimit.RuleOf(name, l.RCMessage)
	case "rc_registration":
		return ratelimit.RuleOf(name, l.RCRegistration)
	case "rc_registration_token_validity":
		return ratelimit.RuleOf(name, l.RCRegistrationTokenValidity)
	case "rc_login.address":
		return ratelimit.RuleOf(name, l.RCLogin.Address)
	case "rc_login.account":
		return ratelimit.RuleOf(name, l.RCLogin.Account)
	case "rc_login.failed_attempts":
		return ratelimit.RuleOf(name, l.RCLogin.FailedAttempts)
	case "rc_joins.local":
		return ratelimit.RuleOf(name, l.RCJoins.Local)
	case "rc_joins.remote":
		return ratelimit.RuleOf(name, l.RCJoins.Remote)
	case "rc_invites.per_room":
		return ratelimit.RuleOf(name, l.RCInvites.PerRoom)
	case "rc_invites.per_user":
		return ratelimit.RuleOf(name, l.RCInvites.PerUser)
	case "rc_3pid_validation":
		return ratelimit.RuleOf(name, l.RC3PIDValidation)
	case "rc_delayed_event_mgmt":
		return ratelimit.RuleOf(name, l.RCDelayedEventMgmt)
	}
	panic("unknown rate limit " + name)
}

// limitUser takes a token of rule from dev's user, unless an admin.
func (s *Server) limitUser(ctx context.Context, rule string, dev *userapi.Device) error {
	if dev.IsAdmin {
		return nil
	}
	r, limited := s.userRule(rule, dev)
	if !limited {
		return nil
	}
	return ratelimit.Error(s.limits.Take(ctx, r, dev.UserID.String()))
}

// limitFor takes a token of rule from subject (a room, an invitee, an
// address) for an action of dev, unless dev is an admin's.
func (s *Server) limitFor(ctx context.Context, rule string, dev *userapi.Device, subject string) error {
	if dev != nil && dev.IsAdmin {
		return nil
	}
	return ratelimit.Error(s.limits.Take(ctx, s.rule(rule), subject))
}

// clientIP is the address the request came from (the client's, behind
// trusted proxies; see app.withRealIP).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// rateLimitedMessages wraps the handlers that send events (rc_message).
func (s *Server) rateLimitedMessages(h func(*http.Request, *userapi.Device) (any, error)) func(*http.Request, *userapi.Device) (any, error) {
	return func(r *http.Request, dev *userapi.Device) (any, error) {
		if err := s.limitUser(r.Context(), "rc_message", dev); err != nil {
			return nil, err
		}
		return h(r, dev)
	}
}

// rateLimitedRegistration counts registrations per client address
// (rc_registration): a full bucket refuses before anything is done, and
// only a registration that made an account takes a token, so that the
// rounds of user-interactive authentication are not counted.
func (s *Server) rateLimitedRegistration(h mxhttp.Handler) mxhttp.Handler {
	return func(r *http.Request) (any, error) {
		rule, ip := s.rule("rc_registration"), clientIP(r)
		if err := s.limits.Check(r.Context(), rule, ip); err != nil {
			return nil, ratelimit.Error(err)
		}
		res, err := h(r)
		if resp, ok := res.(mxhttp.Response); err == nil && (!ok || resp.Status == http.StatusOK) {
			s.limits.Add(r.Context(), rule, ip)
		}
		return res, err
	}
}

// rateLimitedLogin takes a token per client address for every login
// attempt (rc_login.address).
func (s *Server) rateLimitedLogin(h mxhttp.Handler) mxhttp.Handler {
	return func(r *http.Request) (any, error) {
		if err := s.limits.Take(r.Context(), s.rule("rc_login.address"), clientIP(r)); err != nil {
			return nil, ratelimit.Error(err)
		}
		return h(r)
	}
}

// limitLoginAccount takes a token for an attempt to log into user
// (rc_login.account) and refuses while its failed attempts are used up
// (rc_login.failed_attempts).
func (s *Server) limitLoginAccount(ctx context.Context, user spec.UserID) error {
	key := strings.ToLower(user.String())
	if err := s.limits.Check(ctx, s.rule("rc_login.failed_attempts"), key); err != nil {
		return ratelimit.Error(err)
	}
	return ratelimit.Error(s.limits.Take(ctx, s.rule("rc_login.account"), key))
}

// loginFailed counts a wrong password against user.
func (s *Server) loginFailed(ctx context.Context, user spec.UserID, err error) {
	if errors.Is(err, userapi.ErrBadCredentials) {
		s.limits.Add(ctx, s.rule("rc_login.failed_attempts"), strings.ToLower(user.String()))
	}
}

// rateLimited3PID bounds validation e-mails per client address and per
// address mailed to (rc_3pid_validation).
func (s *Server) rateLimited3PID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rule := s.rule("rc_3pid_validation")
		err := s.limits.Take(r.Context(), rule, "ip:"+clientIP(r))
		if err == nil && r.Body != nil {
			raw, _ := io.ReadAll(io.LimitReader(r.Body, mxhttp.DefaultMaxBody+1))
			r.Body = io.NopCloser(bytes.NewReader(raw))
			var body struct {
				Email string `json:"email"`
			}
			if json.Unmarshal(raw, &body) == nil && body.Email != "" {
				err = s.limits.Take(r.Context(), rule, "email:"+strings.ToLower(body.Email))
			}
		}
		if err != nil {
			mxhttp.WriteError(w, r, ratelimit.Error(err))
			return
		}
		h.ServeHTTP(w, r)
	})
}
