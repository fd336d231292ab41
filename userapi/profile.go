package userapi

import (
	"context"
	"fmt"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Profile returns a local user's profile; ErrNotFound for unknown and
// remote users.
func (s *Server) Profile(ctx context.Context, user spec.UserID) (*Profile, error) {
	if !s.isLocal(user.Domain()) {
		return nil, fmt.Errorf("%s is not a local user: %w", user.String(), ErrNotFound)
	}
	p, err := s.store.Profile(ctx, user.String())
	if err != nil {
		return nil, userError(err)
	}
	return &Profile{DisplayName: p.DisplayName, AvatarURL: p.AvatarURL}, nil
}

// SetProfile changes the fields that are not nil ("" clears one) and
// returns the profile as it is now.
func (s *Server) SetProfile(ctx context.Context, user spec.UserID, displayName, avatarURL *string) (*Profile, error) {
	if !s.isLocal(user.Domain()) {
		return nil, fmt.Errorf("%s is not a local user: %w", user.String(), ErrNotFound)
	}
	p, err := s.store.SetProfile(ctx, user.String(), displayName, avatarURL)
	if err != nil {
		return nil, userError(err)
	}
	return &Profile{DisplayName: p.DisplayName, AvatarURL: p.AvatarURL}, nil
}

func (s *Server) SearchProfiles(ctx context.Context, serverName spec.ServerName, term string, limit int) ([]DirectoryEntry, error) {
	rows, err := s.store.SearchProfiles(ctx, string(serverName), strings.ToLower(term), limit)
	if err != nil {
		return nil, err
	}
	out := make([]DirectoryEntry, len(rows))
	for i, r := range rows {
		out[i] = DirectoryEntry{UserID: r.UserID, DisplayName: r.DisplayName, AvatarURL: r.AvatarURL}
	}
	return out, nil
}
