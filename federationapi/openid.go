package federationapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// OpenIDTokens resolves the OpenID tokens users hand to third parties;
// the userapi implements it.
type OpenIDTokens interface {
	OpenIDTokenOwner(ctx context.Context, token string) (spec.UserID, error)
}

// openIDUserInfo is GET /_matrix/federation/v1/openid/userinfo. It is the
// one federation endpoint without request signing: the token is the
// caller's only credential.
func (s *Server) openIDUserInfo(r *http.Request) (any, error) {
	token := r.URL.Query().Get("access_token")
	if token == "" || s.openID == nil {
		return nil, mxhttp.UnknownToken("Access token unknown or expired")
	}
	user, err := s.openID.OpenIDTokenOwner(r.Context(), token)
	if errors.Is(err, userapi.ErrUnknownToken) {
		return nil, mxhttp.UnknownToken("Access token unknown or expired")
	}
	if err != nil {
		return nil, err
	}
	return map[string]string{"sub": user.String()}, nil
}
