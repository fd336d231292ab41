package federationapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/serverkey"
)

// keyValidity is how long other servers may cache our key response.
const keyValidity = 7 * 24 * time.Hour

// Server serves the federation endpoints.
type Server struct {
	keys   map[spec.ServerName]serverkey.Key
	openID OpenIDTokens
}

// New builds the federation API for the given local keys; openID answers
// OpenID userinfo requests (nil refuses every token).
func New(keys []serverkey.Key, openID OpenIDTokens) (*Server, error) {
	m := map[spec.ServerName]serverkey.Key{}
	for _, k := range keys {
		m[k.ServerName] = k
	}
	return &Server{keys: m, openID: openID}, nil
}

// Routes mounts the federation and key endpoints.
func (s *Server) Routes(r *mux.Router) {
	r.Handle("/_matrix/key/v2/server", mxhttp.Handler(s.serverKeys)).Methods(http.MethodGet)
	r.Handle("/_matrix/key/v2/server/{keyId}", mxhttp.Handler(s.serverKeys)).Methods(http.MethodGet)
	r.Handle("/_matrix/federation/v1/openid/userinfo", mxhttp.Handler(s.openIDUserInfo)).Methods(http.MethodGet)
}

type verifyKey struct {
	Key spec.Base64Bytes `json:"key"`
}

// serverKeys is GET /_matrix/key/v2/server: the key of the server name the
// request was addressed to (its Host), signed with itself.
func (s *Server) serverKeys(r *http.Request) (any, error) {
	key, ok := s.keys[spec.ServerName(r.Host)]
	if !ok {
		for _, k := range s.keys {
			key = k
			break
		}
	}
	body := map[string]any{
		"server_name":     key.ServerName,
		"valid_until_ts":  spec.AsTimestamp(time.Now().Add(keyValidity)),
		"verify_keys":     map[gomatrixserverlib.KeyID]verifyKey{key.ID: {Key: spec.Base64Bytes(key.Public())}},
		"old_verify_keys": map[string]any{},
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	signed, err := gomatrixserverlib.SignJSON(string(key.ServerName), key.ID, key.Private, raw)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(signed), nil
}
