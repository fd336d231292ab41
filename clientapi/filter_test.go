package clientapi

import (
	"testing"
)

func TestFilters(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	path := "/_matrix/client/v3/user/" + alice.userID + "/filter"
	filter := `{"room":{"timeline":{"limit":10,"types":["m.room.message"]},"state":{"lazy_load_members":true}},"event_format":"client"}`

	res := ts.do("POST", path, alice.token, filter)
	ts.expect(res, 200, "")
	id := res.str("filter_id")
	if id == "" || id[0] == '{' {
		t.Fatalf("filter id %q", id)
	}
	if got := ts.do("GET", path+"/"+id, alice.token, nil); got.raw != filter {
		t.Errorf("filter = %s, want %s", got.raw, filter)
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
		{"empty filter", "POST", path, alice.token, `{}`, 200, ""},
		{"limit not a number", "POST", path, alice.token, `{"room":{"timeline":{"limit":"ten"}}}`, 400, "M_BAD_JSON"},
		{"types not a list", "POST", path, alice.token, `{"presence":{"types":"m.presence"}}`, 400, "M_BAD_JSON"},
		{"bad event format", "POST", path, alice.token, `{"event_format":"xml"}`, 400, "M_BAD_JSON"},
		{"not a room id", "POST", path, alice.token, `{"room":{"timeline":{"rooms":["not_a_room_id"]}}}`, 400, "M_BAD_JSON"},
		{"not a room id in not_rooms", "POST", path, alice.token, `{"room":{"not_rooms":["#alias:test"]}}`, 400, "M_BAD_JSON"},
		{"not a user id", "POST", path, alice.token, `{"presence":{"senders":["alice"]}}`, 400, "M_BAD_JSON"},
		{"room and user ids", "POST", path, alice.token, `{"room":{"rooms":["!r:test"],"state":{"not_senders":["@bob:test"]}}}`, 200, ""},
		{"not json", "POST", path, alice.token, `{"room":`, 400, "M_NOT_JSON"},
		{"array", "POST", path, alice.token, `[]`, 400, "M_BAD_JSON"},
		{"for someone else", "POST", path, bob.token, `{}`, 403, "M_FORBIDDEN"},
		{"read someone else's", "GET", path + "/" + id, bob.token, nil, 403, "M_FORBIDDEN"},
		{"unknown id", "GET", path + "/999", alice.token, nil, 404, "M_NOT_FOUND"},
		{"non-numeric id", "GET", path + "/abc", alice.token, nil, 404, "M_NOT_FOUND"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts.expect(ts.do(tc.method, tc.path, tc.token, tc.body), tc.status, tc.errcode)
		})
	}
}
