package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
)

// BundesMessenger is what the BundesMessenger apps read beyond the
// Matrix spec, which the chart served from two nginx sidecars
// (docs/bundesmessenger.md).
type BundesMessenger struct {
	// DataPrivacyURL and ImprintURL go to /.well-known/matrix/client
	// under de.bwi; the apps show them. With profile: bundesmessenger
	// both are required.
	DataPrivacyURL string `yaml:"data_privacy_url"`
	ImprintURL     string `yaml:"imprint_url"`
	// MaintenanceFile is the JSON served at /_matrix/cmaintenance until
	// an admin replaces it through the admin API.
	MaintenanceFile string `yaml:"maintenance_file"`
	// VerifyJWTs are served as a JSON list at /_bum/configure/v1/verify.
	VerifyJWTs []string `yaml:"verify_jwts"`
	// MapStyleFile is the map style (JSON) served at
	// /_matrix/cconfig/style.json; with it, well-known's m.tile_server
	// points there unless well_known.map_style_url says otherwise.
	MapStyleFile string `yaml:"map_style_file"`
}

// Enabled tells whether any of the apps' own endpoints is configured.
func (b BundesMessenger) Enabled() bool {
	return b.DataPrivacyURL != "" || b.ImprintURL != "" || b.MaintenanceFile != "" || len(b.VerifyJWTs) > 0 || b.MapStyleFile != ""
}

// E2EE is what io.element.e2ee in /.well-known/matrix/client tells
// Element-based apps (the BundesMessenger apps among them).
type E2EE struct {
	SecureBackupRequired       bool     `yaml:"secure_backup_required" json:"secure_backup_required"`
	SecureBackupSetupMethods   []string `yaml:"secure_backup_setup_methods" json:"secure_backup_setup_methods,omitempty"`
	OutboundKeysPreSharingMode string   `yaml:"outbound_keys_pre_sharing_mode" json:"outbound_keys_pre_sharing_mode,omitempty"`
}

// MatrixRTC is Synapse's matrix_rtc block: the transports (LiveKit SFUs
// behind lk-jwt-service) group calls use.
type MatrixRTC struct {
	Transports []RTCTransport `yaml:"transports"`
}

// RTCTransport is one MatrixRTC transport (MSC4143): a type and its
// arguments, served as they are written.
type RTCTransport map[string]any

// ReadJSONFile reads a file that must hold one JSON object, refusing
// anything else, so that a broken file is never served half.
func ReadJSONFile(path string) (json.RawMessage, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object: %w", path, err)
	}
	return raw, nil
}

func (c *Config) validateBundesMessenger(bad func(key, format string, args ...any)) {
	b := c.BundesMessenger
	for _, u := range []struct{ key, val string }{
		{"bundesmessenger.data_privacy_url", b.DataPrivacyURL},
		{"bundesmessenger.imprint_url", b.ImprintURL},
		{"well_known.map_style_url", c.WellKnown.MapStyleURL},
	} {
		if u.val != "" && !isHTTPURL(u.val) {
			bad(u.key, "%q is not an http(s) URL", u.val)
		}
	}
	if c.Profile == ProfileBundesMessenger {
		if b.DataPrivacyURL == "" {
			bad("bundesmessenger.data_privacy_url", "must be set with profile: bundesmessenger (the apps show the privacy policy from it)")
		}
		if b.ImprintURL == "" {
			bad("bundesmessenger.imprint_url", "must be set with profile: bundesmessenger (the apps show the imprint from it)")
		}
	}
	if b.MaintenanceFile != "" {
		if err := ValidateMaintenanceFile(b.MaintenanceFile); err != nil {
			bad("bundesmessenger.maintenance_file", "%v", err)
		}
	}
	if b.MapStyleFile != "" {
		if _, err := ReadJSONFile(b.MapStyleFile); err != nil {
			bad("bundesmessenger.map_style_file", "%v", err)
		}
	}
	for i, jwt := range b.VerifyJWTs {
		if jwt == "" {
			bad(fmt.Sprintf("bundesmessenger.verify_jwts[%d]", i), "is empty")
		}
	}
	if e := c.WellKnown.E2EE; e != nil {
		switch e.OutboundKeysPreSharingMode {
		case "", "on_room_opening", "on_typing_notification", "on_first_message":
		default:
			bad("well_known.e2ee.outbound_keys_pre_sharing_mode", "%q is not on_room_opening, on_typing_notification or on_first_message", e.OutboundKeysPreSharingMode)
		}
		for i, m := range e.SecureBackupSetupMethods {
			if m != "key" && m != "passphrase" {
				bad(fmt.Sprintf("well_known.e2ee.secure_backup_setup_methods[%d]", i), "%q is neither key nor passphrase", m)
			}
		}
	}
	for k := range c.WellKnown.ClientExtra {
		if k == "m.homeserver" {
			bad("well_known.client_extra", "m.homeserver comes from public_baseurl or well_known.client_base_url")
		}
	}
	for i, t := range c.MatrixRTC.Transports {
		key := fmt.Sprintf("matrix_rtc.transports[%d]", i)
		typ, _ := t["type"].(string)
		if typ == "" {
			bad(key+".type", "must be set (livekit)")
		}
		if typ == "livekit" {
			if u, _ := t["livekit_service_url"].(string); !isHTTPURL(u) {
				bad(key+".livekit_service_url", "must be the http(s) URL of lk-jwt-service")
			}
		}
	}
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
