package app_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// What lk-jwt-service does before it lets a user into a LiveKit call:
// the client asks its homeserver for an OpenID token and hands it over
// with matrix_server_name; the service asks that server, over its
// federation listener, whose token it is. Users of either server are
// told apart, and a token is worth nothing at another server.
func TestOpenIDForLiveKit(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	type grant struct {
		server *apptest.Server
		user   string
		token  string
	}
	var grants []grant
	for _, srv := range servers {
		cli := srv.Register(t, "caller")
		status, body := rawCall(t, cli, "POST", "/user/"+url.PathEscape(cli.UserID.String())+"/openid/request_token", map[string]any{})
		token, _ := body["access_token"].(string)
		if status != 200 || token == "" || body["token_type"] != "Bearer" || body["matrix_server_name"] != string(srv.ServerName) {
			t.Fatalf("request_token on %s: %d %v", srv.ServerName, status, body)
		}
		grants = append(grants, grant{srv, cli.UserID.String(), token})
	}
	userInfo := func(asked *apptest.Server, token string) (int, map[string]string) {
		t.Helper()
		resp, err := asked.HTTPClient().Get(asked.TLSURL + "/_matrix/federation/v1/openid/userinfo?access_token=" + url.QueryEscape(token))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out
	}
	for i, g := range grants {
		if status, out := userInfo(g.server, g.token); status != http.StatusOK || out["sub"] != g.user {
			t.Errorf("server %d, own token: %d %v, want sub %s", i, status, out, g.user)
		}
		other := grants[1-i].server
		if status, out := userInfo(other, g.token); status != http.StatusUnauthorized || out["errcode"] != "M_UNKNOWN_TOKEN" {
			t.Errorf("server %d's token at the other server: %d %v", i, status, out)
		}
	}
}
