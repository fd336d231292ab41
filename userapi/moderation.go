package userapi

import (
	"context"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// AccountModeration tells whether a local account is locked or suspended.
func (s *Server) AccountModeration(ctx context.Context, user spec.UserID) (*AccountModeration, error) {
	if !s.isLocal(user.Domain()) {
		return nil, fmt.Errorf("%s is not a local user: %w", user.String(), ErrNotFound)
	}
	m, err := s.store.Moderation(ctx, user.String())
	if err != nil {
		return nil, userError(err)
	}
	return &AccountModeration{Locked: m.Locked, Suspended: m.Suspended}, nil
}

// SetAccountModeration locks, unlocks, suspends or unsuspends a local
// account. Its sessions stay (the spec wants them back when the lock is
// lifted); the cached devices are dropped everywhere so that every
// request from now on sees the change.
func (s *Server) SetAccountModeration(ctx context.Context, user spec.UserID, locked, suspended *bool) (*AccountModeration, error) {
	if !s.isLocal(user.Domain()) {
		return nil, fmt.Errorf("%s is not a local user: %w", user.String(), ErrNotFound)
	}
	m, hashes, err := s.store.SetModeration(ctx, user.String(), locked, suspended)
	if err != nil {
		return nil, userError(err)
	}
	s.forgetTokens(hashes...)
	return &AccountModeration{Locked: m.Locked, Suspended: m.Suspended}, nil
}
