package clientapi

import (
	"net/http"
	"testing"
)

func TestAccountData(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	global := "/_matrix/client/v3/user/" + alice.userID + "/account_data/"
	room := "/_matrix/client/v3/user/" + alice.userID + "/rooms/!room:test/account_data/"

	tests := []struct {
		name    string
		method  string
		path    string
		token   string
		body    any
		status  int
		errcode string
	}{
		{"put global", "PUT", global + "my.type", alice.token, map[string]any{"a": 1}, 200, ""},
		{"put room", "PUT", room + "my.type", alice.token, map[string]any{"b": 2}, 200, ""},
		{"missing", "GET", global + "other.type", alice.token, nil, 404, "M_NOT_FOUND"},
		{"room does not fall back", "GET", room + "other.type", alice.token, nil, 404, "M_NOT_FOUND"},
		{"someone else's", "GET", global + "my.type", bob.token, nil, 403, "M_FORBIDDEN"},
		{"write someone else's", "PUT", global + "my.type", bob.token, map[string]any{}, 403, "M_FORBIDDEN"},
		{"fully read", "PUT", room + "m.fully_read", alice.token, map[string]any{"event_id": "$x"}, 405, "M_BAD_JSON"},
		{"push rules", "PUT", global + "m.push_rules", alice.token, map[string]any{}, 405, "M_BAD_JSON"},
		{"bad room id", "PUT", "/_matrix/client/v3/user/" + alice.userID + "/rooms/notaroom/account_data/x", alice.token, map[string]any{}, 400, "M_INVALID_PARAM"},
		{"bad user id", "GET", "/_matrix/client/v3/user/alice/account_data/x", alice.token, nil, 400, "M_INVALID_PARAM"},
		{"not json", "PUT", global + "my.type", alice.token, "{", 400, "M_NOT_JSON"},
		{"not an object", "PUT", global + "my.type", alice.token, `"text"`, 400, "M_BAD_JSON"},
		{"no token", "GET", global + "my.type", "", nil, 401, "M_MISSING_TOKEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts.expect(ts.do(tc.method, tc.path, tc.token, tc.body), tc.status, tc.errcode)
		})
	}
	if got := ts.do("GET", global+"my.type", alice.token, nil); got.raw != `{"a":1}` {
		t.Errorf("global = %s", got.raw)
	}
	if got := ts.do("GET", room+"my.type", alice.token, nil); got.raw != `{"b":2}` {
		t.Errorf("room = %s", got.raw)
	}
}

func TestTags(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	tags := "/_matrix/client/v3/user/" + alice.userID + "/rooms/!room:test/tags"

	if got := ts.do("GET", tags, alice.token, nil); got.raw != `{"tags":{}}` {
		t.Errorf("no tags = %s", got.raw)
	}
	steps := []struct {
		name    string
		method  string
		path    string
		token   string
		body    any
		status  int
		errcode string
		want    string
	}{
		{"add", "PUT", tags + "/m.favourite", alice.token, map[string]any{"order": 0.5}, 200, "", `{"tags":{"m.favourite":{"order":0.5}}}`},
		{"add empty", "PUT", tags + "/test_tag", alice.token, map[string]any{}, 200, "", `{"tags":{"m.favourite":{"order":0.5},"test_tag":{}}}`},
		{"remove", "DELETE", tags + "/m.favourite", alice.token, map[string]any{}, 200, "", `{"tags":{"test_tag":{}}}`},
		{"remove missing", "DELETE", tags + "/m.favourite", alice.token, nil, 200, "", `{"tags":{"test_tag":{}}}`},
		{"order not a number", "PUT", tags + "/x", alice.token, map[string]any{"order": "high"}, 400, "M_BAD_JSON", `{"tags":{"test_tag":{}}}`},
		{"not json", "PUT", tags + "/x", alice.token, "[", 400, "M_NOT_JSON", `{"tags":{"test_tag":{}}}`},
		{"someone else's", "PUT", tags + "/x", bob.token, map[string]any{}, 403, "M_FORBIDDEN", `{"tags":{"test_tag":{}}}`},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			ts.expect(ts.do(st.method, st.path, st.token, st.body), st.status, st.errcode)
			if got := ts.do("GET", tags, alice.token, nil); got.raw != st.want {
				t.Errorf("tags = %s, want %s", got.raw, st.want)
			}
		})
	}
	// Tags are the room's m.tag account data.
	res := ts.do("GET", "/_matrix/client/v3/user/"+alice.userID+"/rooms/!room:test/account_data/m.tag", alice.token, nil)
	ts.expect(res, http.StatusOK, "")
	if res.raw != `{"tags":{"test_tag":{}}}` {
		t.Errorf("m.tag = %s", res.raw)
	}
}
