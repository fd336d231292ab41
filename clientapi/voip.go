package clientapi

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"github.com/rohrpost/rohrpost/userapi"
)

// turnServer is GET /voip/turnServer. With a shared secret the
// credentials are the TURN REST API's (coturn's use-auth-secret): a
// username that carries its expiry, and as password the base64 HMAC-SHA1
// of that username under the secret, so the TURN server needs no list of
// users. Otherwise the configured fixed username and password. Without a
// TURN server (or for a guest when guests get none) the answer is an empty
// object, as other servers give: clients take it as "no TURN", while a 404
// makes Element log an error.
func (s *Server) turnServer(r *http.Request, dev *userapi.Device) (any, error) {
	cfg := s.cfg
	if len(cfg.TURNURIs) == 0 || (dev.IsGuest && !cfg.TURNAllowGuests) {
		return struct{}{}, nil
	}
	lifetime := time.Duration(cfg.TURNUserLifetime)
	username, password := cfg.TURNUsername, cfg.TURNPassword
	if cfg.TURNSharedSecret != "" {
		expiry := time.Now().Add(lifetime).Unix()
		username = strconv.FormatInt(expiry, 10) + ":" + dev.UserID.String()
		mac := hmac.New(sha1.New, []byte(cfg.TURNSharedSecret))
		mac.Write([]byte(username))
		password = base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	return map[string]any{
		"username": username,
		"password": password,
		"uris":     cfg.TURNURIs,
		"ttl":      int64(lifetime / time.Second),
	}, nil
}
