package clientapi

import (
	"context"
	"net/http"
	"testing"
)

func TestRequestOpenIDToken(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.register("alice")
	guest := ts.do("POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{})
	ts.expect(guest, http.StatusOK, "")
	path := func(user string) string { return "/_matrix/client/v3/user/" + user + "/openid/request_token" }
	tests := []struct {
		name    string
		path    string
		token   string
		body    any
		status  int
		errcode string
	}{
		{"own", path(alice.userID), alice.token, map[string]any{}, http.StatusOK, ""},
		{"other user", path("@bob:test"), alice.token, map[string]any{}, http.StatusForbidden, "M_FORBIDDEN"},
		{"guest", path(guest.str("user_id")), guest.str("access_token"), map[string]any{}, http.StatusForbidden, "M_GUEST_ACCESS_FORBIDDEN"},
		{"no token", path(alice.userID), "", map[string]any{}, http.StatusUnauthorized, "M_MISSING_TOKEN"},
		{"not json", path(alice.userID), alice.token, "nope", http.StatusBadRequest, "M_NOT_JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := ts.do("POST", tc.path, tc.token, tc.body)
			ts.expect(res, tc.status, tc.errcode)
			if tc.status != http.StatusOK {
				return
			}
			if res.str("token_type") != "Bearer" || res.str("matrix_server_name") != "test" || res.body["expires_in"] != float64(3600) {
				t.Errorf("response: %s", res.raw)
			}
			owner, err := ts.users.OpenIDTokenOwner(context.Background(), res.str("access_token"))
			if err != nil || owner.String() != alice.userID {
				t.Errorf("token owner = %v, %v", owner, err)
			}
			// An OpenID token is no access token.
			ts.expect(ts.do("GET", "/_matrix/client/v3/account/whoami", res.str("access_token"), nil), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		})
	}
}
