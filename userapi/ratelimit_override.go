package userapi

import (
	"context"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/userapi/storage"
)

// RateOverride implements API.
func (s *Server) RateOverride(ctx context.Context, user spec.UserID) (*storage.RateOverride, error) {
	if _, err := s.store.Account(ctx, user.String()); err != nil {
		return nil, userError(err)
	}
	return s.store.RateOverride(ctx, user.String())
}

// SetRateOverride implements API. The override travels with the user's
// devices (Device.RateOverride), so the token caches forget them.
func (s *Server) SetRateOverride(ctx context.Context, user spec.UserID, o *storage.RateOverride) error {
	if _, err := s.store.Account(ctx, user.String()); err != nil {
		return userError(err)
	}
	hashes, err := s.store.SetRateOverride(ctx, user.String(), o)
	if err != nil {
		return err
	}
	s.forgetTokens(hashes...)
	return nil
}
