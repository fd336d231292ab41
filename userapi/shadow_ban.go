package userapi

import (
	"context"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// SetShadowBanned implements API. The flag travels with the user's
// devices (Device.ShadowBanned), so the token caches forget them.
func (s *Server) SetShadowBanned(ctx context.Context, user spec.UserID, banned bool) error {
	hashes, err := s.store.SetShadowBanned(ctx, user.String(), banned)
	if err != nil {
		return userError(err)
	}
	s.forgetTokens(hashes...)
	return nil
}
