package userapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/userapi/storage"
)

// ImpersonationSession implements API. Synapse hands out a token
// without a device; rohrpost's access tokens belong to devices, so the
// admin's login is a device of its own, named after the admin: the user
// sees it in their session list and can end it, and deleting it ends the
// admin's access.
func (s *Server) ImpersonationSession(ctx context.Context, user, admin spec.UserID, validUntilMS int64) (*Session, error) {
	acc, err := s.store.Account(ctx, user.String())
	if err != nil {
		return nil, userError(err)
	}
	if acc.Deactivated {
		return nil, ErrDeactivated
	}
	dev, token, err := newDevice("", "Admin login by "+admin.String(), false)
	if err != nil {
		return nil, err
	}
	dev.UserID = user.String()
	dev.TokenExpiresTS = validUntilMS
	replaced, err := s.store.CreateDevice(ctx, dev)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrDeactivated
	}
	if err != nil {
		return nil, fmt.Errorf("admin login as %s: %w", user.String(), err)
	}
	if replaced != nil {
		s.revoke([]storage.Revoked{*replaced})
	}
	s.deviceListChanged(ctx, user.String(), dev.DeviceID)
	return &Session{UserID: user, DeviceID: dev.DeviceID, AccessToken: token}, nil
}
