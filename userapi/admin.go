package userapi

import (
	"context"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// The account changes of the admin API (adminapi) that no client
// endpoint makes.

// SetAdmin grants or takes away the server admin flag.
func (s *Server) SetAdmin(ctx context.Context, user spec.UserID, admin bool) error {
	hashes, err := s.store.SetAdmin(ctx, user.String(), admin)
	if err != nil {
		return userError(err)
	}
	// Token caches hold the flag.
	s.forgetTokens(hashes...)
	return nil
}

// Reactivate makes a deactivated account usable again with password
// (empty: none, e.g. for single sign-on). ErrNotFound unless it is
// deactivated.
func (s *Server) Reactivate(ctx context.Context, user spec.UserID, password string) error {
	hash := ""
	if password != "" {
		var err error
		if hash, err = s.hashPassword(password); err != nil {
			return fmt.Errorf("hash password: %w", err)
		}
	}
	return userError(s.store.Reactivate(ctx, user.String(), hash))
}

// CreateDeviceWithoutToken adds a device the user cannot log in with
// until they log in naming it (Synapse's admin device creation); a
// device with that id is left as it is.
func (s *Server) CreateDeviceWithoutToken(ctx context.Context, user spec.UserID, deviceID string) error {
	if _, err := s.store.Device(ctx, user.String(), deviceID); err == nil {
		return nil
	}
	acc, err := s.store.Account(ctx, user.String())
	if err != nil {
		return userError(err)
	}
	if acc.Deactivated {
		return ErrDeactivated
	}
	// The access token is made and thrown away: nobody can use it.
	dev, _, err := newDevice(deviceID, "", false)
	if err != nil {
		return err
	}
	dev.UserID = user.String()
	if _, err := s.store.CreateDevice(ctx, dev); err != nil {
		return userError(err)
	}
	return nil
}
