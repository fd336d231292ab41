package userapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/userapi/storage"
)

// LoginTokenLifetime is how long a login token from single sign-on lasts.
const LoginTokenLifetime = 2 * time.Minute

// CreateLoginToken makes a single-use m.login.token for the user.
func (s *Server) CreateLoginToken(ctx context.Context, user spec.UserID) (string, error) {
	return s.CreateSSOLoginToken(ctx, user, storage.AuthOrigin{})
}

// CreateSSOLoginToken is CreateLoginToken for a login through an identity
// provider's session: the device the token logs in remembers it, for the
// provider's back-channel logout.
func (s *Server) CreateSSOLoginToken(ctx context.Context, user spec.UserID, origin storage.AuthOrigin) (string, error) {
	token, hash, err := newAccessToken()
	if err != nil {
		return "", err
	}
	now := time.Now()
	if err := s.store.PutLoginToken(ctx, hash, user.String(), origin, now.Add(LoginTokenLifetime).UnixMilli(), now.UnixMilli()); err != nil {
		return "", fmt.Errorf("store login token: %w", err)
	}
	return token, nil
}

// LoginToken spends a login token on a new device session.
func (s *Server) LoginToken(ctx context.Context, token, deviceID, displayName string, refresh bool) (*Session, error) {
	h := hashToken(token)
	owner, origin, err := s.store.TakeLoginToken(ctx, h[:], time.Now().UnixMilli())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrUnknownToken
	}
	if err != nil {
		return nil, err
	}
	user, err := spec.NewUserID(owner, true)
	if err != nil {
		return nil, fmt.Errorf("stored user id %q: %w", owner, err)
	}
	return s.newSessionFrom(ctx, *user, deviceID, displayName, refresh, origin)
}
