package federationapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// keyValidity is how long other servers may cache our key response.
const keyValidity = 7 * 24 * time.Hour

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
