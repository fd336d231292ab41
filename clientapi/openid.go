package clientapi

import (
	"encoding/json"
	"net/http"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// requestOpenIDToken is POST /user/{userId}/openid/request_token: a token
// the user hands to a third party, which exchanges it for the user's id
// at GET /_matrix/federation/v1/openid/userinfo.
func (s *Server) requestOpenIDToken(r *http.Request, dev *userapi.Device) (any, error) {
	user, err := ownPathUser(r, dev, "request OpenID tokens")
	if err != nil {
		return nil, err
	}
	// The body is an empty object; anything in it is ignored.
	var body map[string]json.RawMessage
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	tok, err := s.users.CreateOpenIDToken(r.Context(), user)
	if err != nil {
		return nil, userError(err)
	}
	return map[string]any{
		"access_token":       tok.AccessToken,
		"token_type":         "Bearer",
		"matrix_server_name": user.Domain(),
		"expires_in":         int64(tok.ExpiresIn.Seconds()),
	}, nil
}
