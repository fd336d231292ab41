package adminapi

import (
	"net/http"

	"github.com/rohrpost/rohrpost/userapi"
)

// shadowBan is POST (ban) and DELETE (lift) /v1/users/{userId}/shadow_ban:
// the user's sends are answered as if they succeeded and reach nobody
// (clientapi/shadow_ban.go).
func (s *Server) shadowBan(banned bool) adminHandler {
	return func(r *http.Request, _ *userapi.Device) (any, error) {
		user, err := s.localUser(r)
		if err != nil {
			return nil, err
		}
		if err := s.users.SetShadowBanned(r.Context(), user, banned); err != nil {
			return nil, userError(err)
		}
		return struct{}{}, nil
	}
}
