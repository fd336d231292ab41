package userapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/userapi/storage"
)

// OpenIDTokenLifetime is how long an OpenID token proves who its user is.
const OpenIDTokenLifetime = time.Hour

// OpenIDToken is a token a third party exchanges, over federation, for the
// user id it was made for.
type OpenIDToken struct {
	AccessToken string
	ExpiresIn   time.Duration
}

// CreateOpenIDToken makes a new OpenID token for the user.
func (s *Server) CreateOpenIDToken(ctx context.Context, user spec.UserID) (*OpenIDToken, error) {
	token, hash, err := newAccessToken()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if err := s.store.PutOpenIDToken(ctx, hash, user.String(), now.Add(OpenIDTokenLifetime).UnixMilli(), now.UnixMilli()); err != nil {
		return nil, fmt.Errorf("store openid token: %w", err)
	}
	return &OpenIDToken{AccessToken: token, ExpiresIn: OpenIDTokenLifetime}, nil
}

// OpenIDTokenOwner returns the user an unexpired OpenID token was made
// for, or ErrUnknownToken.
func (s *Server) OpenIDTokenOwner(ctx context.Context, token string) (spec.UserID, error) {
	h := hashToken(token)
	owner, err := s.store.OpenIDTokenOwner(ctx, h[:], time.Now().UnixMilli())
	if errors.Is(err, storage.ErrNotFound) {
		return spec.UserID{}, ErrUnknownToken
	}
	if err != nil {
		return spec.UserID{}, err
	}
	user, err := spec.NewUserID(owner, true)
	if err != nil {
		return spec.UserID{}, fmt.Errorf("stored user id %q: %w", owner, err)
	}
	return *user, nil
}
