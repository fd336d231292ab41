package userapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/userapi/storage"
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
	return profileOf(p), nil
}

// SetProfile changes the fields that are not nil ("" clears one) and
// returns the profile as it is now.
func (s *Server) SetProfile(ctx context.Context, user spec.UserID, displayName, avatarURL *string) (*Profile, error) {
	if !s.isLocal(user.Domain()) {
		return nil, fmt.Errorf("%s is not a local user: %w", user.String(), ErrNotFound)
	}
	p, err := s.store.SetProfile(ctx, user.String(), displayName, avatarURL)
	if err != nil {
		return nil, profileError(err)
	}
	return profileOf(p), nil
}

// SetProfileField sets or (value empty) removes one field other than
// displayname and avatar_url.
func (s *Server) SetProfileField(ctx context.Context, user spec.UserID, key string, value json.RawMessage) (*Profile, error) {
	if !s.isLocal(user.Domain()) {
		return nil, fmt.Errorf("%s is not a local user: %w", user.String(), ErrNotFound)
	}
	if key == "displayname" || key == "avatar_url" {
		return nil, fmt.Errorf("%s is set with SetProfile", key)
	}
	if len(value) > 0 && !json.Valid(value) {
		return nil, fmt.Errorf("profile field %s: value is not JSON", key)
	}
	p, err := s.store.UpdateProfile(ctx, user.String(), func(p *storage.Profile) {
		if len(value) == 0 {
			delete(p.Fields, key)
			return
		}
		if p.Fields == nil {
			p.Fields = map[string]json.RawMessage{}
		}
		p.Fields[key] = value
	})
	if err != nil {
		return nil, profileError(err)
	}
	return profileOf(p), nil
}

func profileOf(p *storage.Profile) *Profile {
	return &Profile{DisplayName: p.DisplayName, AvatarURL: p.AvatarURL, Fields: p.Fields}
}

func profileError(err error) error {
	if errors.Is(err, storage.ErrProfileTooLarge) {
		return ErrProfileTooLarge
	}
	return userError(err)
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
