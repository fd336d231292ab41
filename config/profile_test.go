package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const bmURLs = `bundesmessenger:
  data_privacy_url: https://agency.example/datenschutz
  imprint_url: https://agency.example/impressum
`

// TestBundesMessengerProfileDefaults: the profile alone sets each of its
// defaults.
func TestBundesMessengerProfileDefaults(t *testing.T) {
	cfg, _, err := Parse([]byte("profile: bundesmessenger\n"+bmURLs), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"presence off", !cfg.Presence.Enabled},
		{"enable_set_displayname false", !cfg.EnableSetDisplayName},
		{"enable_set_avatar_url false", !cfg.EnableSetAvatarURL},
		{"require_auth_for_profile_requests", cfg.RequireAuthForProfileRequests},
		{"include_profile_data_on_invite", cfg.IncludeProfileDataOnInvite},
		{"search_all_users", cfg.UserDirectory.SearchAllUsers},
		{"encryption all", cfg.EncryptionByDefault == "all"},
		{"push without content", !cfg.Push.IncludeContent},
		{"url previews off", !cfg.URLPreviewsOn()},
		{"no guests", !cfg.AllowGuestAccess},
		{"no open registration", !cfg.EnableRegistration},
		{"public rooms not without auth", !cfg.RoomDirectory.AllowPublicRoomsWithoutAuth},
		{"public rooms not over federation", !cfg.RoomDirectory.AllowPublicRoomsOverFederation},
		{"auto accept DMs from local users", cfg.AutoAcceptInvites == AutoAcceptInvites{Enabled: true, OnlyForDirectMessages: true, OnlyFromLocalUsers: true}},
		{"forget rooms on leave", cfg.ForgetRoomsOnLeave},
		{"max upload 50M", cfg.MaxUploadSize == 50<<20},
		{"max avatar 5M", cfg.MaxAvatarSize == 5<<20},
		{"stale devices 90d", time.Duration(cfg.DeleteStaleDevicesAfter) == 90*24*time.Hour},
		{"user ips 28d", cfg.UserIPsMaxAge != nil && time.Duration(*cfg.UserIPsMaxAge) == 28*24*time.Hour},
		{"forgotten rooms 28d", time.Duration(cfg.ForgottenRoomRetentionPeriod) == 28*24*time.Hour},
		{"remote media 90d", time.Duration(cfg.MediaRetention.RemoteMediaLifetime) == 90*24*time.Hour},
		{"password policy", cfg.PasswordConfig.Policy == PasswordPolicy{Enabled: true, MinimumLength: 8, RequireDigit: true, RequireSymbol: true, RequireLowercase: true, RequireUppercase: true}},
		{"ui auth 15s", time.Duration(cfg.UIAuth.SessionTimeout) == 15*time.Second},
		{"delayed events for huddles", time.Duration(cfg.DelayedEvents.MaxEventDelayDuration) == 24*time.Hour},
		{"federation only with the allow-list", cfg.FederationDomainWhitelist != nil && len(*cfg.FederationDomainWhitelist) == 0},
		{"secure backup required", cfg.WellKnown.E2EE != nil && cfg.WellKnown.E2EE.SecureBackupRequired && cfg.WellKnown.E2EE.OutboundKeysPreSharingMode == "on_room_opening"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not set by the profile", c.name)
		}
	}
	plain := Default()
	if !plain.EnableSetDisplayName || !plain.Push.IncludeContent || !plain.IncludeProfileDataOnInvite || plain.ForgetRoomsOnLeave {
		t.Errorf("without the profile Synapse's defaults must hold: %+v %+v", plain.Privacy, plain.Push)
	}
}

// TestProfileOverrides: every key the file names wins over the profile,
// and keys the file leaves out keep the profile's value.
func TestProfileOverrides(t *testing.T) {
	raw := "profile: bundesmessenger\n" + bmURLs + `enable_set_displayname: true
presence:
  enabled: true
push:
  include_content: true
federation_domain_whitelist: [land.example]
password_config:
  policy:
    minimum_length: 12
well_known:
  client_base_url: https://matrix.agency.example
`
	cfg, _, err := Parse([]byte(raw), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.EnableSetDisplayName || !cfg.Presence.Enabled || !cfg.Push.IncludeContent {
		t.Errorf("explicit keys did not win: displayname %v presence %v include_content %v", cfg.EnableSetDisplayName, cfg.Presence.Enabled, cfg.Push.IncludeContent)
	}
	if cfg.EnableSetAvatarURL {
		t.Error("enable_set_avatar_url: the profile's false was lost")
	}
	if w := *cfg.FederationDomainWhitelist; len(w) != 1 || w[0] != "land.example" {
		t.Errorf("whitelist = %v", w)
	}
	if p := cfg.PasswordConfig.Policy; p.MinimumLength != 12 || !p.Enabled || !p.RequireSymbol {
		t.Errorf("policy = %+v, want length 12 and the profile's other rules", p)
	}
	if e := cfg.WellKnown.E2EE; cfg.WellKnown.ClientBaseURL == "" || e == nil || !e.SecureBackupRequired {
		t.Errorf("well_known = %+v, want the explicit base URL and the profile's e2ee", cfg.WellKnown)
	}
}

// TestProfileRefused: the profile without the apps' URLs, an unknown
// profile and bad values stop the start, naming the key.
func TestProfileRefused(t *testing.T) {
	dir := t.TempDir()
	badJSON := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badJSON, []byte(`{"versions": {"ios": `), 0o600); err != nil {
		t.Fatal(err)
	}
	badWindow := filepath.Join(dir, "window.json")
	if err := os.WriteFile(badWindow, []byte(`{"maintenance": [{"type": "OUTAGE", "start_time": "2026-01-01T10:00:00Z"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	badTime := filepath.Join(dir, "time.json")
	if err := os.WriteFile(badTime, []byte(`{"maintenance": [{"type": "MAINTENANCE", "start_time": "morgen"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, yaml, key string }{
		{"no privacy URL", "profile: bundesmessenger\nbundesmessenger:\n  imprint_url: https://a.example/i\n", "bundesmessenger.data_privacy_url"},
		{"no imprint URL", "profile: bundesmessenger\nbundesmessenger:\n  data_privacy_url: https://a.example/d\n", "bundesmessenger.imprint_url"},
		{"unknown profile", "profile: synapse\n", "profile"},
		{"privacy URL not a URL", "bundesmessenger:\n  data_privacy_url: datenschutz\n", "bundesmessenger.data_privacy_url"},
		{"maintenance not JSON", "bundesmessenger:\n  maintenance_file: " + badJSON + "\n", "bundesmessenger.maintenance_file"},
		{"maintenance bad type", "bundesmessenger:\n  maintenance_file: " + badWindow + "\n", "bundesmessenger.maintenance_file"},
		{"maintenance bad time", "bundesmessenger:\n  maintenance_file: " + badTime + "\n", "bundesmessenger.maintenance_file"},
		{"style not JSON", "bundesmessenger:\n  map_style_file: " + badJSON + "\n", "bundesmessenger.map_style_file"},
		{"style missing", "bundesmessenger:\n  map_style_file: " + filepath.Join(dir, "none.json") + "\n", "bundesmessenger.map_style_file"},
		{"password length", "password_config:\n  policy:\n    minimum_length: -1\n", "password_config.policy.minimum_length"},
		{"ui auth timeout", "ui_auth:\n  session_timeout: 48h\n", "ui_auth.session_timeout"},
		{"auto accept half", "auto_accept_invites:\n  only_from_local_users: true\n", "auto_accept_invites"},
		{"3pid lookup on", "enable_3pid_lookup: true\n", "enable_3pid_lookup"},
		{"e2ee mode", "well_known:\n  e2ee:\n    outbound_keys_pre_sharing_mode: sometimes\n", "well_known.e2ee.outbound_keys_pre_sharing_mode"},
		{"rtc transport without URL", "matrix_rtc:\n  transports:\n    - type: livekit\n", "matrix_rtc.transports[0].livekit_service_url"},
		{"client_extra m.homeserver", "well_known:\n  client_extra:\n    m.homeserver: {base_url: https://x.example}\n", "well_known.client_extra"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tc.yaml), dir)
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("err = %v, want one naming %s", err, tc.key)
			}
		})
	}
}

// TestProfileSampleLoads: what generate-config --profile prints refuses
// to start until the two URLs are set, then loads to the same settings
// as the profile alone.
func TestProfileSampleLoads(t *testing.T) {
	sample, err := ProfileSample(ProfileBundesMessenger)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Parse(sample, t.TempDir()); err == nil || !strings.Contains(err.Error(), "bundesmessenger.data_privacy_url") {
		t.Fatalf("sample without URLs: err = %v, want the missing URL named", err)
	}
	cfg, warnings, err := Parse(append(sample, []byte(bmURLs)...), t.TempDir())
	if err != nil || len(warnings) > 0 {
		t.Fatalf("sample with URLs: %v (warnings %v)", err, warnings)
	}
	plain, _, err := Parse([]byte("profile: bundesmessenger\nserver_name: example.org\n"+bmURLs), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Privacy.PasswordConfig != plain.Privacy.PasswordConfig || cfg.EnableSetDisplayName != plain.EnableSetDisplayName || cfg.Push != plain.Push {
		t.Errorf("the printed sample and the profile differ")
	}
	if _, err := ProfileSample("synapse"); err == nil {
		t.Error("an unknown profile printed")
	}
}

// TestMaintenanceDocument: the windows and the version gate in the
// apps' shape pass; unknown keys are kept.
func TestMaintenanceDocument(t *testing.T) {
	good := `{"maintenance": [{"warning_start_time": "2026-03-01T08:00:00Z", "start_time": "2026-03-02T20:00:00Z",
	  "end_time": "2026-03-02T22:00:00Z", "type": "MAINTENANCE", "description": "Update", "blocking": true},
	  {"type": "ADHOC_MESSAGE", "description": "Hinweis", "blocking": false}],
	  "versions": {"ios": {"update_before": "2.20.0", "warn_before": "2.21.0"}, "android": {"update_before": "2.20.0", "warn_before": "2.21.0"}},
	  "x.agency": 1}`
	if err := ValidateMaintenance([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"array":        `[]`,
		"null":         `null`,
		"end early":    `{"m": [{"type": "MAINTENANCE", "start_time": "2026-03-02T20:00:00Z", "end_time": "2026-03-02T19:00:00Z"}]}`,
		"warn late":    `{"m": [{"type": "MAINTENANCE", "start_time": "2026-03-02T20:00:00Z", "warning_start_time": "2026-03-02T21:00:00Z"}]}`,
		"blocking str": `{"m": [{"type": "MAINTENANCE", "blocking": "yes"}]}`,
		"version num":  `{"versions": {"ios": {"update_before": 2}}}`,
	} {
		if err := ValidateMaintenance([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestURLPreviewEnabledWins: Synapse's url_preview_enabled, when set,
// decides over url_preview.enabled.
func TestURLPreviewEnabledWins(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		on         bool
	}{
		{"neither", "", false},
		{"rohrpost's key", "url_preview:\n  enabled: true\n", true},
		{"Synapse's key", "url_preview_enabled: true\n", true},
		{"Synapse's key off wins", "url_preview:\n  enabled: true\nurl_preview_enabled: false\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := Parse([]byte(tc.yaml), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if cfg.URLPreviewsOn() != tc.on {
				t.Fatalf("URLPreviewsOn = %v", !tc.on)
			}
		})
	}
}
