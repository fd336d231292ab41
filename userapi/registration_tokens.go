package userapi

import (
	"context"
	"errors"
	"time"

	"github.com/rohrpost/rohrpost/userapi/storage"
)

// Registration tokens: the admin API creates, changes and deletes them;
// POST /register reserves a use of one for its auth session when the
// client passes m.login.registration_token (pending) and completes it
// when the account is made (completed), as the spec has it.

func (s *Server) CreateRegistrationToken(ctx context.Context, t storage.RegistrationToken) error {
	err := s.store.CreateRegistrationToken(ctx, t)
	if errors.Is(err, storage.ErrTokenExists) {
		return ErrTokenExists
	}
	return err
}

func (s *Server) UpdateRegistrationToken(ctx context.Context, token string, u storage.RegistrationTokenUpdate) (*storage.RegistrationToken, error) {
	t, err := s.store.UpdateRegistrationToken(ctx, token, u, time.Now().UnixMilli())
	return t, userError(err)
}

func (s *Server) DeleteRegistrationToken(ctx context.Context, token string) error {
	return userError(s.store.DeleteRegistrationToken(ctx, token))
}

// ReserveRegistrationToken counts a use of token in progress for the
// auth session until expires (Unix ms); ErrNotFound when the token is
// unknown, expired or used up.
func (s *Server) ReserveRegistrationToken(ctx context.Context, token, session string, expires int64) error {
	return userError(s.store.ReserveRegistrationToken(ctx, token, session, time.Now().UnixMilli(), expires))
}

// CompleteRegistrationToken counts the session's reserved use as
// completed.
func (s *Server) CompleteRegistrationToken(ctx context.Context, session string) error {
	return s.store.CompleteRegistrationToken(ctx, session)
}

// RegistrationTokenValid tells whether token could start a registration
// now (GET /register/m.login.registration_token/validity).
func (s *Server) RegistrationTokenValid(ctx context.Context, token string) (bool, error) {
	now := time.Now().UnixMilli()
	t, err := s.store.RegistrationToken(ctx, token, now)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return t.Valid(now), nil
}
