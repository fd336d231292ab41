package clientapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/ratelimit"
	"github.com/rohrpost/rohrpost/userapi"
)

// Registration tokens (spec: m.login.registration_token). With
// registration_requires_token every registration flow starts with the
// stage. Passing it reserves a use of the token for the auth session
// (the token's pending count) until the session expires; the account
// being made turns the use into a completed one.

// maxRegistrationTokenLength is the spec's bound on tokens.
const maxRegistrationTokenLength = 64

// reserveRegistrationToken checks the stage's token and reserves a use
// of it for sess; a token that is unknown, expired or used up is a
// failure the client may retry with another.
func (s *Server) reserveRegistrationToken(ctx context.Context, sess *uiaSession, token string) (*mxhttp.Error, error) {
	if token == "" {
		return nil, mxhttp.MissingParam("Missing registration token")
	}
	if len(token) > maxRegistrationTokenLength {
		return &mxhttp.Error{Code: "M_UNAUTHORIZED", Msg: "Invalid registration token"}, nil
	}
	err := s.users.ReserveRegistrationToken(ctx, token, sess.ID, sess.Created.Add(uiaLifetime).UnixMilli())
	if errors.Is(err, userapi.ErrNotFound) {
		return &mxhttp.Error{Code: "M_UNAUTHORIZED", Msg: "Invalid registration token"}, nil
	}
	return nil, err
}

// completeRegistrationToken counts the session's reserved use as
// completed once its account exists; the account stays whatever
// happens.
func (s *Server) completeRegistrationToken(ctx context.Context, sess *uiaSession, user string) {
	if err := s.users.CompleteRegistrationToken(ctx, sess.ID); err != nil {
		slog.Error("clientapi: counting the registration token's use", "user_id", user, "err", err)
	}
}

// registrationTokenValidity is GET /_matrix/client/v1/register/
// m.login.registration_token/validity, rate limited per client address
// (rc_registration_token_validity) against guessing.
func (s *Server) registrationTokenValidity(r *http.Request) (any, error) {
	if !s.cfg.EnableRegistration {
		return nil, mxhttp.Forbidden("Registration is not enabled on this homeserver.")
	}
	if err := s.limits.Take(r.Context(), s.rule("rc_registration_token_validity"), clientIP(r)); err != nil {
		return nil, ratelimit.Error(err)
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		return nil, mxhttp.MissingParam("Missing token")
	}
	valid := false
	if len(token) <= maxRegistrationTokenLength {
		var err error
		if valid, err = s.users.RegistrationTokenValid(r.Context(), token); err != nil {
			return nil, err
		}
	}
	return map[string]bool{"valid": valid}, nil
}
