package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// The profile fields the spec names, and how long the two that go into
// member events may be. Every other field counts only towards the
// profile's 64 KiB.
const (
	fieldDisplayName = "displayname"
	fieldAvatarURL   = "avatar_url"
	fieldTimeZone    = "m.tz"

	maxDisplayNameLength = 256 // characters
	maxAvatarURLLength   = 1000
	maxProfileKeyLength  = 255 // bytes
)

// profileKeyPattern is the keyName pattern of the spec's OpenAPI: the
// named fields, or a namespaced identifier with at least one dot.
var profileKeyPattern = regexp.MustCompile(`^(avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$`)

// isMemberField tells whether a field is copied into the user's member
// events, which is why it is stored apart from the others.
func isMemberField(key string) bool { return key == fieldDisplayName || key == fieldAvatarURL }

// getProfile is GET /profile/{userId}. Fields that are not set are left
// out.
func (s *Server) getProfile(r *http.Request) (any, error) {
	if err := s.profileReadAllowed(r); err != nil {
		return nil, err
	}
	user, err := pathUser(r)
	if err != nil {
		return nil, err
	}
	if remote, ok := s.remoteProfile(r, user, ""); ok {
		return remote()
	}
	p, err := s.users.Profile(r.Context(), user)
	if err != nil {
		return nil, userError(err)
	}
	out := make(map[string]any, len(p.Fields)+2)
	for k, v := range p.Fields {
		out[k] = v
	}
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
// v1.16) read a missing key, not a 404, as "not set". Any other field
// that is not set is not found.
func (s *Server) getProfileField(r *http.Request) (any, error) {
	if err := s.profileReadAllowed(r); err != nil {
		return nil, err
	}
	user, err := pathUser(r)
	if err != nil {
		return nil, err
	}
	key := mux.Vars(r)["keyName"]
	if remote, ok := s.remoteProfile(r, user, key); ok {
		return remote()
	}
	p, err := s.users.Profile(r.Context(), user)
	if err != nil {
		return nil, userError(err)
	}
	switch key {
	case fieldDisplayName, fieldAvatarURL:
		value := p.DisplayName
		if key == fieldAvatarURL {
			value = p.AvatarURL
		}
		if value == "" {
			return struct{}{}, nil
		}
		return map[string]string{key: value}, nil
	}
	value, ok := p.Fields[key]
	if !ok {
		return nil, mxhttp.NotFound("Profile field " + key + " is not set")
	}
	return map[string]json.RawMessage{key: value}, nil
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
	if len(body) > 1 {
		return nil, mxhttp.BadJSON("The body must hold " + key + " and nothing else")
	}
	if !isMemberField(key) {
		if key == fieldTimeZone {
			var tz string
			if err := json.Unmarshal(raw, &tz); err != nil {
				return nil, mxhttp.BadJSON("m.tz must be a string")
			}
		}
		return s.setCustomProfileField(r, user, key, raw)
	}
	// null clears displayname and avatar_url, as does "": clients did so
	// before DELETE existed.
	var value *string
	if err := json.Unmarshal(raw, &value); err != nil {
		return nil, mxhttp.BadJSON(key + " must be a string")
	}
	if value == nil {
		value = new(string)
	}
	return s.setMemberField(r, user, key, *value)
}

// deleteProfileField is DELETE /profile/{userId}/{keyName}; a field that
// is not set is deleted already.
func (s *Server) deleteProfileField(r *http.Request, dev *userapi.Device) (any, error) {
	user, err := ownPathUser(r, dev, "change the profile")
	if err != nil {
		return nil, err
	}
	key := mux.Vars(r)["keyName"]
	if err := s.checkProfileKey(key, dev); err != nil {
		return nil, err
	}
	if isMemberField(key) {
		return s.setMemberField(r, user, key, "")
	}
	return s.setCustomProfileField(r, user, key, nil)
}

// checkProfileKey refuses keys the spec does not allow, fields a guest
// may not change, and the display name or avatar where the server
// switched their changes off (enable_set_displayname,
// enable_set_avatar_url: the names come from the agency's directory).
func (s *Server) checkProfileKey(key string, dev *userapi.Device) error {
	switch {
	case key == fieldDisplayName && !s.cfg.EnableSetDisplayName:
		return mxhttp.Forbidden("Changing the display name is disabled on this server")
	case key == fieldAvatarURL && !s.cfg.EnableSetAvatarURL:
		return mxhttp.Forbidden("Changing the avatar is disabled on this server")
	case len(key) > maxProfileKeyLength:
		return &mxhttp.Error{Status: http.StatusBadRequest, Code: "M_KEY_TOO_LARGE", Msg: "Profile keys are at most 255 bytes"}
	case !profileKeyPattern.MatchString(key):
		return mxhttp.InvalidParam("Invalid profile key " + key)
	case dev.IsGuest && key != fieldDisplayName:
		return mxhttp.GuestAccess("Guest users may only change their display name")
	}
	return nil
}

func (s *Server) setCustomProfileField(r *http.Request, user spec.UserID, key string, value json.RawMessage) (any, error) {
	if _, err := s.users.SetProfileField(r.Context(), user, key, value); err != nil {
		return nil, profileError(err)
	}
	return struct{}{}, nil
}

// setMemberField stores displayname or avatar_url and tells
// onProfileChange, so that the user's member events follow.
func (s *Server) setMemberField(r *http.Request, user spec.UserID, key, value string) (any, error) {
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
		if err := s.checkAvatarSize(r.Context(), value); err != nil {
			return nil, err
		}
		avatarURL = &value
	}
	p, err := s.users.SetProfile(r.Context(), user, displayName, avatarURL)
	if err != nil {
		return nil, profileError(err)
	}
	if s.onProfileChange != nil {
		s.onProfileChange(r.Context(), user, *p)
	}
	return struct{}{}, nil
}

// profileReadAllowed refuses profile reads without a valid access token
// where require_auth_for_profile_requests says so.
func (s *Server) profileReadAllowed(r *http.Request) error {
	if !s.cfg.RequireAuthForProfileRequests {
		return nil
	}
	_, err := userapi.Authenticate(s.users, r)
	return err
}

func profileError(err error) error {
	if errors.Is(err, userapi.ErrProfileTooLarge) {
		return &mxhttp.Error{Status: http.StatusBadRequest, Code: "M_PROFILE_TOO_LARGE", Msg: "The profile would exceed 64 KiB"}
	}
	return userError(err)
}

// remoteProfile asks the user's own server for the profile of a user of
// another server (ok false for local users).
func (s *Server) remoteProfile(r *http.Request, user spec.UserID, field string) (func() (any, error), bool) {
	if s.isLocalServer(user.Domain()) || s.fed == nil {
		return nil, false
	}
	return func() (any, error) {
		p, err := s.fed.QueryProfile(r.Context(), user, field)
		if err != nil {
			return nil, federationError(err)
		}
		return p, nil
	}, true
}
