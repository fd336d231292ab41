package app_test

import (
	"net/http"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// Without bridges the server knows no third-party protocol.
func TestThirdPartyProtocols(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/thirdparty/protocols", 200, ""},
		{"/thirdparty/protocol/irc", 404, "M_NOT_FOUND"},
		{"/thirdparty/location/irc?channel=x", 404, "M_NOT_FOUND"},
		{"/thirdparty/user/irc", 404, "M_NOT_FOUND"},
	} {
		status, body := rawCall(t, alice, "GET", tc.path, nil)
		if status != tc.status || (tc.code != "" && body["errcode"] != tc.code) || (tc.status == 200 && len(body) != 0) {
			t.Errorf("%s: %d %v", tc.path, status, body)
		}
	}
	resp, err := http.Get(srv.URL + "/_matrix/client/v3/thirdparty/protocols")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("without a token: %d", resp.StatusCode)
	}
}
