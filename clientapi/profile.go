package clientapi

import (
	"encoding/json"
	"net/http"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// The profile fields the server stores, and how long each may be.
const (
	fieldDisplayName = "displayname"
	fieldAvatarURL   = "avatar_url"

	maxDisplayNameLength = 256 // characters
	maxAvatarURLLength   = 1000
)

// getProfile is GET /profile/{userId}. Fields that are not set are left
// out.
func (s *Server) getProfile(r *http.Request) (any, error) {
	user, err := pathUser(r)
	if err != nil {
		return nil, err
	}
	p, err := s.users.Profile(r.Context(), user)
	if err != nil {
		return nil, userError(err)
	}
	out := map[string]string{}
	if p.DisplayName != "" {
		out[fieldDisplayName] = p.DisplayName
	}
	if p.AvatarURL != "" {
		out[fieldAvatarURL] = p.AvatarURL
	}
	return out, nil
}

// getProfileField is GET /profile/{userId}/{keyName}. An unset displayname
// or avatar_url of an existing user is an empty object: these two fields
// are part of every profile, and older clients (and the spec before
// v1.16) read a missing key, not a 404, as "not set". Any other field is
// never stored, so it is not found.
func (s *Server) getProfileField(r *http.Request) (any, error) {
	user, err := pathUser(r)
	if err != nil {
		return nil, err
	}
	key := mux.Vars(r)["keyName"]
	p, err := s.users.Profile(r.Context(), user)
	if err != nil {
		return nil, userError(err)
	}
	value := ""
	switch key {
	case fieldDisplayName:
		value = p.DisplayName
	case fieldAvatarURL:
		value = p.AvatarURL
	default:
		return nil, mxhttp.NotFound("Profile field " + key + " is not set")
	}
	if value == "" {
		return struct{}{}, nil
	}
	return map[string]string{key: value}, nil
}

// putProfileField is PUT /profile/{userId}/{keyName}. Users change only
// their own profile; guests only their display name.
func (s *Server) putProfileField(r *http.Request, dev *userapi.Device) (any, error) {
	user, err := ownPathUser(r, dev, "change the profile")
	if err != nil {
		return nil, err
	}
	key := mux.Vars(r)["keyName"]
	if err := s.checkProfileKey(key, dev); err != nil {
		return nil, err
	}
	var body map[string]json.RawMessage
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	raw, ok := body[key]
	if !ok {
		return nil, mxhttp.MissingParam("Missing " + key)
	}
	// null clears the field, as does "".
	var value *string
	if err := json.Unmarshal(raw, &value); err != nil {
		return nil, mxhttp.BadJSON(key + " must be a string")
	}
	if value == nil {
		value = new(string)
	}
	return s.setProfileField(r, user, key, *value)
}

// deleteProfileField is DELETE /profile/{userId}/{keyName}.
func (s *Server) deleteProfileField(r *http.Request, dev *userapi.Device) (any, error) {
	user, err := ownPathUser(r, dev, "change the profile")
	if err != nil {
		return nil, err
	}
	key := mux.Vars(r)["keyName"]
	if key != fieldDisplayName && key != fieldAvatarURL {
		// Other fields are never stored, so they are already gone.
		return struct{}{}, nil
	}
	if err := s.checkProfileKey(key, dev); err != nil {
		return nil, err
	}
	return s.setProfileField(r, user, key, "")
}

func (s *Server) checkProfileKey(key string, dev *userapi.Device) error {
	switch {
	case key != fieldDisplayName && key != fieldAvatarURL:
		return mxhttp.Forbidden("Only displayname and avatar_url can be changed on this server")
	case dev.IsGuest && key != fieldDisplayName:
		return mxhttp.GuestAccess("Guest users may only change their display name")
	}
	return nil
}

// setProfileField stores one field and tells onProfileChange, so that
// the user's member events follow.
func (s *Server) setProfileField(r *http.Request, user spec.UserID, key, value string) (any, error) {
	var displayName, avatarURL *string
	switch key {
	case fieldDisplayName:
		if utf8.RuneCountInString(value) > maxDisplayNameLength {
			return nil, mxhttp.InvalidParam("displayname is too long")
		}
		displayName = &value
	case fieldAvatarURL:
		if len(value) > maxAvatarURLLength {
			return nil, mxhttp.InvalidParam("avatar_url is too long")
		}
		avatarURL = &value
	}
	p, err := s.users.SetProfile(r.Context(), user, displayName, avatarURL)
	if err != nil {
		return nil, userError(err)
	}
	if s.onProfileChange != nil {
		s.onProfileChange(r.Context(), user, *p)
	}
	return struct{}{}, nil
}
