package clientapi

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/rohrpost/rohrpost/config"
)

// TestProfileChangesSwitchedOff: with enable_set_displayname and
// enable_set_avatar_url off, users cannot change either (403
// M_FORBIDDEN), other fields stay theirs, and /capabilities says so.
func TestProfileChangesSwitchedOff(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) {
		c.EnableSetDisplayName = false
		c.EnableSetAvatarURL = false
	})
	alice := ts.register("alice")
	base := "/_matrix/client/v3/profile/" + alice.userID
	tests := []struct {
		name, method, key string
		body              any
		status            int
		errcode           string
	}{
		{"set displayname", "PUT", "displayname", map[string]any{"displayname": "Eve"}, 403, "M_FORBIDDEN"},
		{"clear displayname", "DELETE", "displayname", nil, 403, "M_FORBIDDEN"},
		{"set avatar", "PUT", "avatar_url", map[string]any{"avatar_url": "mxc://test/abc"}, 403, "M_FORBIDDEN"},
		{"clear avatar", "DELETE", "avatar_url", nil, 403, "M_FORBIDDEN"},
		{"time zone still", "PUT", "m.tz", map[string]any{"m.tz": "Europe/Berlin"}, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts.expect(ts.do(tc.method, base+"/"+tc.key, alice.token, tc.body), tc.status, tc.errcode)
		})
	}
	res := ts.do("GET", base, alice.token, nil)
	ts.expect(res, 200, "")
	if res.str("displayname") != "alice" || res.body["avatar_url"] != nil {
		t.Fatalf("profile changed anyway: %s", res.raw)
	}
	caps := ts.do("GET", "/_matrix/client/v3/capabilities", alice.token, nil)
	ts.expect(caps, 200, "")
	var got struct {
		Capabilities struct {
			SetDisplayName struct{ Enabled bool } `json:"m.set_displayname"`
			SetAvatarURL   struct{ Enabled bool } `json:"m.set_avatar_url"`
			ProfileFields  struct {
				Enabled    bool
				Disallowed []string
			} `json:"m.profile_fields"`
		}
	}
	if err := json.Unmarshal([]byte(caps.raw), &got); err != nil {
		t.Fatal(err)
	}
	c := got.Capabilities
	if c.SetDisplayName.Enabled || c.SetAvatarURL.Enabled || !c.ProfileFields.Enabled || len(c.ProfileFields.Disallowed) != 2 {
		t.Fatalf("capabilities = %s", caps.raw)
	}
}

// TestProfileRequiresAuth: require_auth_for_profile_requests refuses
// profile reads without a valid token; without it, anyone may read.
func TestProfileRequiresAuth(t *testing.T) {
	for _, required := range []bool{true, false} {
		ts := newTestServer(t, func(c *config.Config) { c.RequireAuthForProfileRequests = required })
		alice := ts.register("alice")
		for _, path := range []string{"/_matrix/client/v3/profile/" + alice.userID, "/_matrix/client/v3/profile/" + alice.userID + "/displayname"} {
			tests := []struct {
				name, token string
				status      int
				errcode     string
			}{
				{"no token", "", 401, "M_MISSING_TOKEN"},
				{"unknown token", "nope", 401, "M_UNKNOWN_TOKEN"},
				{"valid token", alice.token, 200, ""},
			}
			for _, tc := range tests {
				if !required && tc.token != "nope" {
					tc.status, tc.errcode = 200, ""
				}
				if !required && tc.token == "nope" {
					continue // an invalid token on an open endpoint is not this test's concern
				}
				t.Run(tc.name, func(t *testing.T) {
					ts.expect(ts.do("GET", path, tc.token, nil), tc.status, tc.errcode)
				})
			}
		}
	}
}

// TestPasswordPolicy: a password that breaks password_config.policy is
// refused with M_WEAK_PASSWORD at registration and at a change; one that
// keeps it is taken.
func TestPasswordPolicy(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) {
		c.PasswordConfig.Policy = config.PasswordPolicy{Enabled: true, MinimumLength: 8, RequireDigit: true, RequireSymbol: true, RequireLowercase: true, RequireUppercase: true}
	})
	tests := []struct {
		name, password string
		ok             bool
	}{
		{"too short", "aB3$", false},
		{"no digit", "abcDEF$$", false},
		{"no symbol", "abcDEF12", false},
		{"no lower case", "ABCDEF1$", false},
		{"no upper case", "abcdef1$", false},
		{"all rules kept", "Geheim-2026", true},
		{"non-ASCII letters count", "Grüße-2026Ä", true},
	}
	for i, tc := range tests {
		t.Run("register "+tc.name, func(t *testing.T) {
			req := map[string]any{"username": "user" + string(rune('a'+i)), "password": tc.password,
				"auth": map[string]any{"type": "m.login.dummy"}}
			res := ts.do("POST", "/_matrix/client/v3/register", "", req)
			if tc.ok {
				if res.status != http.StatusUnauthorized && res.status != http.StatusOK {
					t.Fatalf("strong password refused: %s", res.raw)
				}
				return
			}
			ts.expect(res, 400, "M_WEAK_PASSWORD")
		})
	}
	// The test helper's password breaks the policy; register with a good one.
	strong := "Start-2026"
	req := map[string]any{"username": "carol", "password": strong}
	first := ts.do("POST", "/_matrix/client/v3/register", "", req)
	ts.expect(first, 401, "")
	req["auth"] = map[string]any{"type": "m.login.dummy", "session": first.str("session")}
	reg := ts.do("POST", "/_matrix/client/v3/register", "", req)
	ts.expect(reg, 200, "")
	carol := account{userID: reg.str("user_id"), token: reg.str("access_token"), password: strong}
	for _, tc := range tests {
		t.Run("change to "+tc.name, func(t *testing.T) {
			body := map[string]any{"new_password": tc.password, "logout_devices": false, "auth": passwordAuth(carol, carol.password, "")}
			res := ts.do("POST", "/_matrix/client/v3/account/password", carol.token, body)
			if tc.ok {
				ts.expect(res, 200, "")
				carol.password = tc.password
				return
			}
			ts.expect(res, 400, "M_WEAK_PASSWORD")
		})
	}
}

// TestWellKnownClientForTheApps: /.well-known/matrix/client carries
// what the BundesMessenger apps read, in the chart's shape, and the
// configured extra keys; the MatrixRTC transports endpoint lists the
// same transports.
func TestWellKnownClientForTheApps(t *testing.T) {
	style := filepath.Join(t.TempDir(), "style.json")
	if err := os.WriteFile(style, []byte(`{"version": 8}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, func(c *config.Config) {
		c.PublicBaseURL = "https://matrix.agency.example"
		c.BundesMessenger = config.BundesMessenger{DataPrivacyURL: "https://agency.example/datenschutz", ImprintURL: "https://agency.example/impressum", MapStyleFile: style}
		c.WellKnown.E2EE = &config.E2EE{SecureBackupRequired: true, SecureBackupSetupMethods: []string{"passphrase"}, OutboundKeysPreSharingMode: "on_room_opening"}
		c.MatrixRTC.Transports = []config.RTCTransport{{"type": "livekit", "livekit_service_url": "https://call.agency.example/livekit/jwt"}}
		c.WellKnown.ClientExtra = map[string]any{"org.example.extra": map[string]any{"on": true}}
	})
	res := ts.do("GET", "/.well-known/matrix/client", "", nil)
	ts.expect(res, 200, "")
	var got, want any
	if err := json.Unmarshal([]byte(res.raw), &got); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal([]byte(`{
		"m.homeserver": {"base_url": "https://matrix.agency.example"},
		"de.bwi": {"data_privacy_url": "https://agency.example/datenschutz", "imprint_url": "https://agency.example/impressum"},
		"io.element.e2ee": {"secure_backup_required": true, "secure_backup_setup_methods": ["passphrase"], "outbound_keys_pre_sharing_mode": "on_room_opening"},
		"m.tile_server": {"map_style_url": "https://matrix.agency.example/_matrix/cconfig/style.json"},
		"org.matrix.msc4143.rtc_foci": [{"type": "livekit", "livekit_service_url": "https://call.agency.example/livekit/jwt"}],
		"org.example.extra": {"on": true}
	}`), &want)
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Fatalf("well-known =\n%s\nwant\n%s", g, w)
	}

	alice := ts.register("alice")
	ts.expect(ts.do("GET", "/_matrix/client/unstable/org.matrix.msc4143/rtc/transports", "", nil), 401, "M_MISSING_TOKEN")
	tr := ts.do("GET", "/_matrix/client/unstable/org.matrix.msc4143/rtc/transports", alice.token, nil)
	ts.expect(tr, 200, "")
	if tr.raw != `{"rtc_transports":[{"livekit_service_url":"https://call.agency.example/livekit/jwt","type":"livekit"}]}` {
		t.Fatalf("transports = %s", tr.raw)
	}

	plain := newTestServer(t)
	res = plain.do("GET", "/.well-known/matrix/client", "", nil)
	if len(res.body) != 1 || res.body["m.homeserver"] == nil {
		t.Fatalf("well-known without the apps' config = %s, want m.homeserver only", res.raw)
	}
	bob := plain.register("bob")
	if tr := plain.do("GET", "/_matrix/client/unstable/org.matrix.msc4143/rtc/transports", bob.token, nil); tr.raw != `{"rtc_transports":[]}` {
		t.Fatalf("transports without config = %s", tr.raw)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
