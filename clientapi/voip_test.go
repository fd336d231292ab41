package clientapi

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/config"
)

func TestTURNServer(t *testing.T) {
	t.Run("not configured", func(t *testing.T) {
		ts := newTestServer(t)
		alice := ts.register("alice")
		res := ts.do("GET", "/_matrix/client/v3/voip/turnServer", alice.token, nil)
		ts.expect(res, 200, "")
		if len(res.body) != 0 {
			t.Fatalf("got %s, want {}", res.raw)
		}
	})
	t.Run("shared secret", func(t *testing.T) {
		ts := newTestServer(t, func(c *config.Config) {
			c.TURNURIs = []string{"turns:turn.bund.example:443?transport=tcp"}
			c.TURNSharedSecret = "geheim"
			c.TURNUserLifetime = config.Duration(2 * time.Hour)
		})
		alice := ts.register("alice")
		res := ts.do("GET", "/_matrix/client/v3/voip/turnServer", alice.token, nil)
		ts.expect(res, 200, "")
		username := res.str("username")
		expiry, user, ok := strings.Cut(username, ":")
		exp, err := strconv.ParseInt(expiry, 10, 64)
		if !ok || err != nil || user != alice.userID || exp < time.Now().Add(119*time.Minute).Unix() {
			t.Fatalf("username %q", username)
		}
		mac := hmac.New(sha1.New, []byte("geheim"))
		mac.Write([]byte(username))
		if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); res.str("password") != want {
			t.Fatalf("password %q, want %q", res.str("password"), want)
		}
		if res.body["ttl"] != float64(7200) {
			t.Fatalf("ttl %v", res.body["ttl"])
		}
		ts.expect(ts.do("GET", "/_matrix/client/v3/voip/turnServer", "", nil), 401, "M_MISSING_TOKEN")
	})
}
