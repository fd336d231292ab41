package clientapi

import (
	"strings"
	"testing"
)

func TestProfile(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	base := "/_matrix/client/v3/profile/"

	// A new account's display name is its localpart; no avatar yet.
	res := ts.do("GET", base+alice.userID, "", nil)
	ts.expect(res, 200, "")
	if res.raw != `{"displayname":"alice"}` {
		t.Errorf("new profile = %s", res.raw)
	}
	// An unset field of an existing user is present as an absent key.
	if res := ts.do("GET", base+alice.userID+"/avatar_url", "", nil); res.status != 200 || res.raw != `{}` {
		t.Errorf("unset avatar_url = %d %s", res.status, res.raw)
	}

	tests := []struct {
		name    string
		method  string
		path    string
		token   string
		body    any
		status  int
		errcode string
	}{
		{"set name", "PUT", base + alice.userID + "/displayname", alice.token, map[string]any{"displayname": "Alice"}, 200, ""},
		{"set avatar", "PUT", base + alice.userID + "/avatar_url", alice.token, map[string]any{"avatar_url": "mxc://test/abc"}, 200, ""},
		{"r0 prefix", "PUT", "/_matrix/client/r0/profile/" + alice.userID + "/displayname", alice.token, map[string]any{"displayname": "Alice"}, 200, ""},
		{"someone else's", "PUT", base + alice.userID + "/displayname", bob.token, map[string]any{"displayname": "Hacked"}, 403, "M_FORBIDDEN"},
		{"no token", "PUT", base + alice.userID + "/displayname", "", map[string]any{"displayname": "x"}, 401, "M_MISSING_TOKEN"},
		{"missing key", "PUT", base + alice.userID + "/displayname", alice.token, map[string]any{"avatar_url": "x"}, 400, "M_MISSING_PARAM"},
		{"wrong type", "PUT", base + alice.userID + "/displayname", alice.token, map[string]any{"displayname": 5}, 400, "M_BAD_JSON"},
		{"not json", "PUT", base + alice.userID + "/displayname", alice.token, "nope", 400, "M_NOT_JSON"},
		{"too long", "PUT", base + alice.userID + "/displayname", alice.token, map[string]any{"displayname": strings.Repeat("x", 300)}, 400, "M_INVALID_PARAM"},
		{"custom field", "PUT", base + alice.userID + "/m.tz", alice.token, map[string]any{"m.tz": "Europe/Berlin"}, 403, "M_FORBIDDEN"},
		{"malformed user", "GET", base + "alice", "", nil, 400, "M_INVALID_PARAM"},
		{"unknown user", "GET", base + "@nobody:test", "", nil, 404, "M_NOT_FOUND"},
		{"remote user", "GET", base + "@alice:elsewhere/displayname", "", nil, 404, "M_NOT_FOUND"},
		{"unknown field", "GET", base + alice.userID + "/m.tz", "", nil, 404, "M_NOT_FOUND"},
		{"unknown user's field", "GET", base + "@nobody:test/displayname", "", nil, 404, "M_NOT_FOUND"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts.expect(ts.do(tc.method, tc.path, tc.token, tc.body), tc.status, tc.errcode)
		})
	}

	if got := ts.do("GET", base+alice.userID, "", nil); got.raw != `{"avatar_url":"mxc://test/abc","displayname":"Alice"}` {
		t.Errorf("profile = %s", got.raw)
	}
	if got := ts.do("GET", base+alice.userID+"/displayname", "", nil); got.raw != `{"displayname":"Alice"}` {
		t.Errorf("displayname = %s", got.raw)
	}
	want := []string{"@alice:test Alice ", "@alice:test Alice mxc://test/abc", "@alice:test Alice mxc://test/abc"}
	if strings.Join(ts.profileChanges, "|") != strings.Join(want, "|") {
		t.Errorf("profile hooks = %q, want %q", ts.profileChanges, want)
	}

	// null and DELETE clear a field.
	ts.expect(ts.do("PUT", base+alice.userID+"/avatar_url", alice.token, map[string]any{"avatar_url": nil}), 200, "")
	if res := ts.do("GET", base+alice.userID+"/avatar_url", "", nil); res.status != 200 || res.raw != `{}` {
		t.Errorf("cleared avatar_url = %d %s", res.status, res.raw)
	}
	ts.expect(ts.do("DELETE", base+alice.userID+"/displayname", alice.token, nil), 200, "")
	if got := ts.do("GET", base+alice.userID, "", nil); got.raw != `{}` {
		t.Errorf("cleared profile = %s", got.raw)
	}
	ts.expect(ts.do("DELETE", base+alice.userID+"/m.tz", alice.token, nil), 200, "")
}
