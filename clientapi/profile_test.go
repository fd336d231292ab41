package clientapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/userapi"
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

// Fields beyond displayname and avatar_url (spec v1.16): m.tz and custom
// fields of any JSON type, within 64 KiB for the whole profile.
func TestCustomProfileFields(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	guest := ts.registerGuest()
	base := "/_matrix/client/v3/profile/" + alice.userID

	tests := []struct {
		name    string
		method  string
		key     string
		token   string
		body    any
		status  int
		errcode string
	}{
		{"time zone", "PUT", "m.tz", alice.token, map[string]any{"m.tz": "Europe/Berlin"}, 200, ""},
		{"time zone not a string", "PUT", "m.tz", alice.token, map[string]any{"m.tz": 1}, 400, "M_BAD_JSON"},
		{"custom object", "PUT", "de.bund.dienststelle", alice.token, map[string]any{"de.bund.dienststelle": map[string]any{"name": "BMI", "floor": 3}}, 200, ""},
		{"custom null is kept", "PUT", "de.bund.pager", alice.token, map[string]any{"de.bund.pager": nil}, 200, ""},
		{"custom to delete", "PUT", "de.bund.gone", alice.token, map[string]any{"de.bund.gone": true}, 200, ""},
		{"delete custom", "DELETE", "de.bund.gone", alice.token, nil, 200, ""},
		{"delete unset", "DELETE", "de.bund.never", alice.token, nil, 200, ""},
		{"missing property", "PUT", "de.bund.x", alice.token, map[string]any{"de.bund.y": 1}, 400, "M_MISSING_PARAM"},
		{"extra property", "PUT", "de.bund.x", alice.token, map[string]any{"de.bund.x": 1, "de.bund.y": 2}, 400, "M_BAD_JSON"},
		{"not namespaced", "PUT", "job", alice.token, map[string]any{"job": "x"}, 400, "M_INVALID_PARAM"},
		{"upper case", "PUT", "de.Bund.x", alice.token, map[string]any{"de.Bund.x": "x"}, 400, "M_INVALID_PARAM"},
		{"key too long", "PUT", "de." + strings.Repeat("x", 253), alice.token, map[string]any{"de." + strings.Repeat("x", 253): 1}, 400, "M_KEY_TOO_LARGE"},
		{"invalid key on delete", "DELETE", "job", alice.token, nil, 400, "M_INVALID_PARAM"},
		{"profile too large", "PUT", "de.bund.big", alice.token, map[string]any{"de.bund.big": strings.Repeat("x", 65536)}, 400, "M_PROFILE_TOO_LARGE"},
		{"someone else's", "PUT", "m.tz", bob.token, map[string]any{"m.tz": "UTC"}, 403, "M_FORBIDDEN"},
		{"someone else's delete", "DELETE", "m.tz", bob.token, nil, 403, "M_FORBIDDEN"},
		{"no token", "DELETE", "m.tz", "", nil, 401, "M_MISSING_TOKEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts.expect(ts.do(tc.method, base+"/"+tc.key, tc.token, tc.body), tc.status, tc.errcode)
		})
	}

	reads := []struct{ path, want string }{
		{"", `{"de.bund.dienststelle":{"floor":3,"name":"BMI"},"de.bund.pager":null,"displayname":"alice","m.tz":"Europe/Berlin"}`},
		{"/m.tz", `{"m.tz":"Europe/Berlin"}`},
		{"/de.bund.pager", `{"de.bund.pager":null}`},
	}
	for _, rd := range reads {
		if res := ts.do("GET", base+rd.path, "", nil); res.status != 200 || res.raw != rd.want {
			t.Errorf("GET profile%s = %d %s, want %s", rd.path, res.status, res.raw, rd.want)
		}
	}
	for _, gone := range []string{"/de.bund.gone", "/de.bund.big", "/de.bund.x"} {
		ts.expect(ts.do("GET", base+gone, "", nil), 404, "M_NOT_FOUND")
	}
	// Only displayname and avatar_url go into member events.
	if want := []string{}; len(ts.profileChanges) != 0 {
		t.Errorf("custom fields changed member events: %q, want %q", ts.profileChanges, want)
	}

	// Guests change only their display name, and the capability says so.
	guestBase := "/_matrix/client/v3/profile/" + guest.userID
	ts.expect(ts.do("PUT", guestBase+"/m.tz", guest.token, map[string]any{"m.tz": "UTC"}), 403, "M_GUEST_ACCESS_FORBIDDEN")
	ts.expect(ts.do("PUT", guestBase+"/displayname", guest.token, map[string]any{"displayname": "Gast"}), 200, "")
	caps := ts.do("GET", "/_matrix/client/v3/capabilities", guest.token, nil)
	if !strings.Contains(caps.raw, `"m.profile_fields":{"allowed":["displayname"],"enabled":true}`) {
		t.Errorf("guest capabilities = %s", caps.raw)
	}
	caps = ts.do("GET", "/_matrix/client/v3/capabilities", alice.token, nil)
	if !strings.Contains(caps.raw, `"m.profile_fields":{"enabled":true}`) {
		t.Errorf("capabilities = %s", caps.raw)
	}
}

// FuzzCheckProfileKey: any key gets an answer, and an accepted key is one
// the spec allows: at most 255 bytes, lower-case ASCII, namespaced unless
// it is one of the named fields.
func FuzzCheckProfileKey(f *testing.F) {
	for _, k := range []string{"displayname", "avatar_url", "m.tz", "de.bund.x", "job", "de..x", "de.x.", strings.Repeat("a.", 200)} {
		f.Add(k)
	}
	dev := &userapi.Device{}
	s := &Server{cfg: config.Default()}
	f.Fuzz(func(t *testing.T, key string) {
		if s.checkProfileKey(key, dev) != nil {
			return
		}
		if len(key) > maxProfileKeyLength {
			t.Fatalf("accepted %d bytes", len(key))
		}
		if !isMemberField(key) && key != fieldTimeZone && !strings.Contains(key, ".") {
			t.Fatalf("accepted %q without a namespace", key)
		}
		for _, r := range key {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_') {
				t.Fatalf("accepted %q with %q", key, r)
			}
		}
	})
}

// Only stable room versions are advertised as stable; experimental ones
// that the library knows (namespaced, as "org.matrix.msc4242.12") are not.
func TestCapabilitiesAdvertiseOnlyStableRoomVersions(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.register("alice")
	caps := ts.do("GET", "/_matrix/client/v3/capabilities", alice.token, nil)
	var body struct {
		Capabilities struct {
			RoomVersions struct {
				Available map[string]string `json:"available"`
			} `json:"m.room_versions"`
		} `json:"capabilities"`
	}
	if err := json.Unmarshal([]byte(caps.raw), &body); err != nil {
		t.Fatal(err)
	}
	avail := body.Capabilities.RoomVersions.Available
	for _, v := range []string{"1", "10", "11", "12"} {
		if avail[v] != "stable" {
			t.Errorf("room version %s: %q, want stable", v, avail[v])
		}
	}
	for v := range avail {
		if strings.Contains(v, ".") {
			t.Errorf("experimental room version %s advertised", v)
		}
	}
}
