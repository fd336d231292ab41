package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const keycloakProvider = `
oidc_providers:
  - idp_id: keycloak
    idp_name: "Agency login"
    idp_icon: "mxc://example.org/abc"
    idp_brand: "org.example.agency"
    issuer: "https://sso.example.org/realms/agency"
    client_id: "rohrpost"
    client_secret: "s3cret"
    scopes: ["openid", "profile"]
    allow_existing_users: true
    enable_registration: false
    backchannel_logout_enabled: true
    attribute_requirements:
      - attribute: groups
        value: staff
      - attribute: department
        one_of: [it, legal]
    user_mapping_provider:
      config:
        subject_claim: sub
        localpart_template: "{{ user.preferred_username | lower }}"
        display_name_template: "{{ user.given_name }} {{ user.family_name }}"
        email_template: "{{ user.email }}"
  - idp_id: second
    issuer: "https://other.example.org"
    discover: false
    authorization_endpoint: "https://other.example.org/auth"
    token_endpoint: "https://other.example.org/token"
    jwks_uri: "https://other.example.org/jwks"
    client_id: "rohrpost"
    client_auth_method: none
    pkce_method: always
    user_mapping_provider:
      config:
        localpart_template: "{{ user.sub }}"
`

func TestOIDCProvidersLoad(t *testing.T) {
	cfg, warnings, err := Parse([]byte(keycloakProvider), t.TempDir())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings: %v", warnings)
	}
	if n := len(cfg.OIDCProviders); n != 2 {
		t.Fatalf("%d providers", n)
	}
	p := cfg.OIDCProviders[0]
	if p.ID() != "oidc-keycloak" || p.Name() != "Agency login" || !p.Discovers() || p.RegistrationEnabled() || p.AuthMethod() != "client_secret_basic" || p.PKCE() != "auto" {
		t.Fatalf("provider 0: %+v", p)
	}
	if q := cfg.OIDCProviders[1]; q.ID() != "oidc-second" || q.Name() != "OIDC" || q.Discovers() || !q.RegistrationEnabled() || q.UserMappingProvider.Config.Subject() != "sub" {
		t.Fatalf("provider 1: %+v", q)
	}
}

func TestOIDCProvidersRefused(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := func(extra string) string {
		return "oidc_providers:\n  - issuer: https://sso.example.org/realms/a\n    client_id: c\n    client_secret: s\n" +
			"    user_mapping_provider:\n      config:\n        localpart_template: \"{{ user.preferred_username }}\"\n" + extra
	}
	tests := []struct {
		name, yaml, key string
	}{
		{"unknown key", base("    skip_verification: true\n"), "oidc_providers[0].skip_verification"},
		{"unknown mapping key", base("        confirm_localpart: true\n"), "oidc_providers[0].user_mapping_provider.config.confirm_localpart"},
		{"bad idp_id", base("    idp_id: \"a b\"\n"), "oidc_providers[0].idp_id"},
		{"icon not mxc", base("    idp_icon: https://x/y.png\n"), "oidc_providers[0].idp_icon"},
		{"private_key_jwt", base("    client_auth_method: private_key_jwt\n"), "oidc_providers[0].client_auth_method"},
		{"pkce", base("    pkce_method: sometimes\n"), "oidc_providers[0].pkce_method"},
		{"no openid scope", base("    scopes: [profile]\n"), "oidc_providers[0].scopes"},
		{"profile method", base("    user_profile_method: guess\n"), "oidc_providers[0].user_profile_method"},
		{"endpoint with discovery", base("    token_endpoint: https://x/token\n"), "oidc_providers[0].token_endpoint"},
		{"no endpoints without discovery", base("    discover: false\n"), "oidc_providers[0].authorization_endpoint"},
		{"both secrets", base("    client_secret_path: " + secretFile + "\n"), "oidc_providers[0].client_secret_path"},
		{"requirement without value", base("    attribute_requirements:\n      - attribute: groups\n"), "oidc_providers[0].attribute_requirements[0]"},
		{"other mapping module", strings.Replace(base(""), "      config:", "      module: my.Provider\n      config:", 1), "oidc_providers[0].user_mapping_provider.module"},
		{"jinja statement", strings.Replace(base(""), "{{ user.preferred_username }}", "{% if x %}y{% endif %}", 1), "localpart_template"},
		{"unsupported filter", strings.Replace(base(""), "user.preferred_username", "user.preferred_username | replace('a','b')", 1), "localpart_template"},
		{"no localpart template", "oidc_providers:\n  - issuer: https://sso.example.org\n    client_id: c\n    client_secret: s\n", "localpart_template"},
		{"no issuer", "oidc_providers:\n  - client_id: c\n    client_secret: s\n    user_mapping_provider:\n      config:\n        localpart_template: x\n", "oidc_providers[0].issuer"},
		{"duplicate id", base("") + strings.TrimPrefix(base(""), "oidc_providers:\n"), "oidc_providers[1].idp_id"},
		{"password off without sso", "enable_registration: false\npassword_config:\n  enabled: false\n", "password_config.enabled"},
		{"password off with open registration", base("") + "enable_registration: true\nenable_registration_without_verification: true\npassword_config:\n  enabled: false\n", "password_config.enabled"},
		{"legacy oidc_config", "oidc_config:\n  enabled: true\n", "oidc_config"},
		{"synapse cas_config", "cas_config:\n  enabled: true\n", "cas_config"},
		{"unknown sso key", "sso:\n  update_profile_information: true\n", "sso.update_profile_information"},
		{"whitelist entry without scheme", "sso:\n  client_whitelist: [app.example.org]\n", "sso.client_whitelist[0]"},
		{"whitelist entry without path", "sso:\n  client_whitelist: [\"https://app.example.org\"]\n", "sso.client_whitelist[0]"},
		{"password enabled value", base("") + "password_config:\n  enabled: maybe\n", "password_config.enabled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tc.yaml), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("err = %v, want one naming %s", err, tc.key)
			}
		})
	}
}

func TestPasswordConfigEnabled(t *testing.T) {
	sso := "oidc_providers:\n  - issuer: https://sso.example.org\n    client_id: c\n    client_secret_path: %s\n    user_mapping_provider:\n      config:\n        localpart_template: \"{{ user.sub }}\"\n"
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sso = strings.Replace(sso, "%s", secretFile, 1)
	tests := []struct {
		name, value   string
		login, reauth bool
	}{
		{"default", "", true, true},
		{"true", "password_config:\n  enabled: true\n", true, true},
		{"false", "password_config:\n  enabled: false\n", false, false},
		{"only for reauth", "password_config:\n  enabled: only_for_reauth\n", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := Parse([]byte(sso+tc.value), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if cfg.PasswordConfig.PasswordLogin() != tc.login || cfg.PasswordConfig.PasswordReauth() != tc.reauth {
				t.Fatalf("login %v reauth %v", cfg.PasswordConfig.PasswordLogin(), cfg.PasswordConfig.PasswordReauth())
			}
			if s, err := cfg.OIDCProviders[0].Secret(); err != nil || s != "from-file" {
				t.Fatalf("secret %q %v", s, err)
			}
		})
	}
}
