package config

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rohrpost/rohrpost/internal/claimtemplate"
)

// SSO is login through identity providers (docs/sso.md): Synapse's
// oidc_providers with Synapse's keys and defaults. password_config.enabled
// (PasswordEnabled) lives in Privacy's PasswordConfig.
type SSO struct {
	OIDCProviders []OIDCProvider `yaml:"oidc_providers"`
	// SSOClients is Synapse's sso block.
	SSOClients SSOClients `yaml:"sso"`
}

// SSOClients says which clients get the login token of a single sign-on
// at once. Any other client's redirectUrl is shown to the user first,
// who continues to it or not: a link that sends the token to an
// attacker's page then needs the user's click on a page naming it.
type SSOClients struct {
	// ClientWhitelist are URL prefixes (Synapse's key), such as
	// "https://app.element.io/".
	ClientWhitelist []string `yaml:"client_whitelist"`
}

// TrustedClient tells whether redirectURL starts with a prefix of
// client_whitelist.
func (c SSOClients) TrustedClient(redirectURL string) bool {
	for _, prefix := range c.ClientWhitelist {
		if strings.HasPrefix(redirectURL, prefix) {
			return true
		}
	}
	return false
}

// OIDCProvider is one OpenID Connect provider (an agency's Keycloak realm)
// users log in through with the authorization code flow.
type OIDCProvider struct {
	// IDPID names the provider in URLs and in the users' external ids;
	// as in Synapse it is used with an "oidc-" prefix (ID), except "oidc".
	IDPID    string `yaml:"idp_id"`
	IDPName  string `yaml:"idp_name"`
	IDPIcon  string `yaml:"idp_icon"`
	IDPBrand string `yaml:"idp_brand"`
	Issuer   string `yaml:"issuer"`
	// Discover reads the endpoints from the issuer's
	// /.well-known/openid-configuration; false takes them from the keys
	// below. Default true.
	Discover              *bool  `yaml:"discover"`
	AuthorizationEndpoint string `yaml:"authorization_endpoint"`
	TokenEndpoint         string `yaml:"token_endpoint"`
	UserinfoEndpoint      string `yaml:"userinfo_endpoint"`
	JWKSURI               string `yaml:"jwks_uri"`

	ClientID         string `yaml:"client_id"`
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretPath string `yaml:"client_secret_path"`
	// ClientAuthMethod is client_secret_basic (default),
	// client_secret_post or none.
	ClientAuthMethod string `yaml:"client_auth_method"`
	// PKCEMethod is auto (when the provider announces S256), always or
	// never.
	PKCEMethod string   `yaml:"pkce_method"`
	Scopes     []string `yaml:"scopes"`
	// UserProfileMethod is auto (the ID token's claims) or
	// userinfo_endpoint (the claims of the userinfo endpoint).
	UserProfileMethod string `yaml:"user_profile_method"`

	// AllowExistingUsers links a provider's user to an existing account
	// of the mapped localpart on their first login.
	AllowExistingUsers bool `yaml:"allow_existing_users"`
	// EnableRegistration creates accounts for unknown users; default true.
	EnableRegistration       *bool                  `yaml:"enable_registration"`
	AttributeRequirements    []AttributeRequirement `yaml:"attribute_requirements"`
	BackchannelLogoutEnabled bool                   `yaml:"backchannel_logout_enabled"`
	UserMappingProvider      UserMappingProvider    `yaml:"user_mapping_provider"`
}

// AttributeRequirement is a claim a user must have: equal to Value, or to
// one of OneOf. A claim that is a list satisfies it when one of its
// members does.
type AttributeRequirement struct {
	Attribute string   `yaml:"attribute"`
	Value     *string  `yaml:"value"`
	OneOf     []string `yaml:"one_of"`
}

// UserMappingProvider is Synapse's default (Jinja) mapping provider.
type UserMappingProvider struct {
	Module string        `yaml:"module"`
	Config MappingConfig `yaml:"config"`
}

// MappingConfig says how claims become a Matrix user.
type MappingConfig struct {
	// SubjectClaim is the claim that identifies the user at the
	// provider for good; default "sub".
	SubjectClaim        string `yaml:"subject_claim"`
	LocalpartTemplate   string `yaml:"localpart_template"`
	DisplayNameTemplate string `yaml:"display_name_template"`
	EmailTemplate       string `yaml:"email_template"`
}

// PasswordEnabled is password_config.enabled: false leaves login to single
// sign-on; only_for_reauth keeps passwords for confirming sensitive
// actions (user-interactive auth) but not for logging in. The zero value
// is true, Synapse's default.
type PasswordEnabled string

const (
	passwordOn            PasswordEnabled = ""
	passwordOff           PasswordEnabled = "false"
	passwordOnlyForReauth PasswordEnabled = "only_for_reauth"
)

func (p *PasswordEnabled) UnmarshalYAML(n *yaml.Node) error {
	switch strings.ToLower(n.Value) {
	case "true", "yes", "on":
		*p = passwordOn
	case "false", "no", "off":
		*p = passwordOff
	case "only_for_reauth":
		*p = passwordOnlyForReauth
	default:
		return fmt.Errorf("password_config.enabled: %q is not true, false or only_for_reauth", n.Value)
	}
	return nil
}

// PasswordLogin tells whether POST /login accepts m.login.password.
func (p PasswordConfig) PasswordLogin() bool { return p.Enabled == passwordOn }

// PasswordReauth tells whether user-interactive auth offers
// m.login.password (and a password may be changed).
func (p PasswordConfig) PasswordReauth() bool { return p.Enabled != passwordOff }

// ID is the provider's id in URLs, in GET /login and in external ids:
// idp_id with Synapse's "oidc-" prefix, or "oidc" (Synapse's id for the
// older single-provider oidc_config).
func (p OIDCProvider) ID() string {
	id := p.IDPID
	if id == "" {
		return "oidc"
	}
	if id == "oidc" {
		return id
	}
	return "oidc-" + id
}

// Name is idp_name, "OIDC" by default.
func (p OIDCProvider) Name() string {
	if p.IDPName == "" {
		return "OIDC"
	}
	return p.IDPName
}

// Discovers tells whether endpoints come from discovery.
func (p OIDCProvider) Discovers() bool { return p.Discover == nil || *p.Discover }

// RegistrationEnabled is enable_registration, default true.
func (p OIDCProvider) RegistrationEnabled() bool {
	return p.EnableRegistration == nil || *p.EnableRegistration
}

// AuthMethod is client_auth_method with its default.
func (p OIDCProvider) AuthMethod() string {
	if p.ClientAuthMethod == "" {
		return "client_secret_basic"
	}
	return p.ClientAuthMethod
}

// PKCE is pkce_method with its default.
func (p OIDCProvider) PKCE() string {
	if p.PKCEMethod == "" {
		return "auto"
	}
	return p.PKCEMethod
}

// ScopeList is scopes with its default.
func (p OIDCProvider) ScopeList() []string {
	if len(p.Scopes) == 0 {
		return []string{"openid"}
	}
	return p.Scopes
}

// Subject is subject_claim with its default.
func (m MappingConfig) Subject() string {
	if m.SubjectClaim == "" {
		return "sub"
	}
	return m.SubjectClaim
}

// Secret is client_secret, or the trimmed content of client_secret_path.
func (p OIDCProvider) Secret() (string, error) {
	if p.ClientSecretPath == "" {
		return p.ClientSecret, nil
	}
	raw, err := os.ReadFile(p.ClientSecretPath)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(raw)), nil
}

var (
	// Synapse's pattern for idp_id, and for idp_brand.
	idpIDPattern    = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,250}$`)
	idpBrandPattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,254}$`)
	mappingModules  = []string{"", "synapse.handlers.oidc.JinjaOidcMappingProvider", "synapse.handlers.oidc_handler.JinjaOidcMappingProvider"}
)

// validate checks oidc_providers and password_config.
func (s *SSO) validate(c *Config, bad func(key, format string, args ...any)) {
	seen := map[string]bool{}
	for i := range s.OIDCProviders {
		p := &s.OIDCProviders[i]
		key := fmt.Sprintf("oidc_providers[%d]", i)
		p.validate(key, bad)
		if seen[p.ID()] {
			bad(key+".idp_id", "%q is used by another provider", p.IDPID)
		}
		seen[p.ID()] = true
	}
	for i, prefix := range s.SSOClients.ClientWhitelist {
		if u, err := url.Parse(prefix); err != nil || u.Scheme == "" || (isHTTPURL(prefix) && u.Path == "") {
			bad(fmt.Sprintf("sso.client_whitelist[%d]", i), "%q is not a URL prefix with a scheme and, for http(s), a path (like https://app.example.org/)", prefix)
		}
	}
	pw := c.PasswordConfig
	if !pw.PasswordLogin() && len(s.OIDCProviders) == 0 && !c.CAS.Enabled {
		bad("password_config.enabled", "without password login nobody can log in: configure oidc_providers or cas")
	}
	if !pw.PasswordLogin() && c.EnableRegistration {
		bad("password_config.enabled", "enable_registration: true would make password accounts that cannot log in; set enable_registration: false (accounts come from single sign-on)")
	}
}

func (p *OIDCProvider) validate(key string, bad func(key, format string, args ...any)) {
	if p.IDPID != "" && !idpIDPattern.MatchString(p.IDPID) {
		bad(key+".idp_id", "%q may only hold A-Z, a-z, 0-9 and . _ ~ - (1 to 250 characters)", p.IDPID)
	}
	if p.IDPIcon != "" && !strings.HasPrefix(p.IDPIcon, "mxc://") {
		bad(key+".idp_icon", "%q is not an mxc:// URI", p.IDPIcon)
	}
	if p.IDPBrand != "" && !idpBrandPattern.MatchString(p.IDPBrand) {
		bad(key+".idp_brand", "%q is not a brand name (lower case, like org.example.agency)", p.IDPBrand)
	}
	if !isHTTPURL(p.Issuer) {
		bad(key+".issuer", "must be the provider's http(s) URL (Keycloak: https://host/realms/REALM)")
	}
	if p.ClientID == "" {
		bad(key+".client_id", "must be set")
	}
	if p.ClientSecret != "" && p.ClientSecretPath != "" {
		bad(key+".client_secret_path", "set client_secret or client_secret_path, not both")
	}
	if p.ClientSecretPath != "" {
		if secret, err := p.Secret(); err != nil || secret == "" {
			bad(key+".client_secret_path", "cannot read a secret from %s: %v", p.ClientSecretPath, err)
		}
	}
	switch p.AuthMethod() {
	case "client_secret_basic", "client_secret_post":
		if p.ClientSecret == "" && p.ClientSecretPath == "" {
			bad(key+".client_secret", "client_auth_method %s needs client_secret or client_secret_path", p.AuthMethod())
		}
	case "none":
	case "client_secret_jwt", "private_key_jwt":
		bad(key+".client_auth_method", "%s is not supported; use client_secret_basic, client_secret_post or none", p.ClientAuthMethod)
	default:
		bad(key+".client_auth_method", "%q is not client_secret_basic, client_secret_post or none", p.ClientAuthMethod)
	}
	switch p.PKCE() {
	case "auto", "always", "never":
	default:
		bad(key+".pkce_method", "%q is not auto, always or never", p.PKCEMethod)
	}
	if !slices.Contains(p.ScopeList(), "openid") {
		bad(key+".scopes", "must include openid: plain OAuth2 providers without ID tokens are not supported")
	}
	switch p.UserProfileMethod {
	case "", "auto", "userinfo_endpoint":
	default:
		bad(key+".user_profile_method", "%q is not auto or userinfo_endpoint", p.UserProfileMethod)
	}
	p.validateEndpoints(key, bad)
	for j, req := range p.AttributeRequirements {
		rk := fmt.Sprintf("%s.attribute_requirements[%d]", key, j)
		if req.Attribute == "" {
			bad(rk+".attribute", "must be set")
		}
		if (req.Value == nil) == (len(req.OneOf) == 0) {
			bad(rk, "needs either value or one_of")
		}
	}
	m := p.UserMappingProvider
	if !slices.Contains(mappingModules, m.Module) {
		bad(key+".user_mapping_provider.module", "%q is not supported; only Synapse's default Jinja mapping provider is", m.Module)
	}
	mk := key + ".user_mapping_provider.config"
	if m.Config.LocalpartTemplate == "" {
		bad(mk+".localpart_template", "must be set (rohrpost has no page on which users pick a name), e.g. \"{{ user.preferred_username }}\"")
	}
	for _, t := range []struct{ name, src string }{
		{"localpart_template", m.Config.LocalpartTemplate},
		{"display_name_template", m.Config.DisplayNameTemplate},
		{"email_template", m.Config.EmailTemplate},
	} {
		if _, err := claimtemplate.Parse(t.src); err != nil {
			bad(mk+"."+t.name, "%v", err)
		}
	}
}

// validateEndpoints: without discovery every endpoint the flow uses must
// be configured; with it, configured endpoints would be ignored, which
// is refused rather than silently done.
func (p *OIDCProvider) validateEndpoints(key string, bad func(key, format string, args ...any)) {
	endpoints := []struct {
		name, value string
		needed      bool
	}{
		{"authorization_endpoint", p.AuthorizationEndpoint, true},
		{"token_endpoint", p.TokenEndpoint, true},
		{"jwks_uri", p.JWKSURI, true},
		{"userinfo_endpoint", p.UserinfoEndpoint, p.UserProfileMethod == "userinfo_endpoint"},
	}
	for _, e := range endpoints {
		switch {
		case p.Discovers() && e.value != "":
			bad(key+"."+e.name, "is only read with discover: false")
		case !p.Discovers() && e.value == "" && e.needed:
			bad(key+"."+e.name, "must be set when discover is false")
		case e.value != "" && !isHTTPURL(e.value):
			bad(key+"."+e.name, "%q is not an http(s) URL", e.value)
		}
	}
}

// unsupportedSSOKeys picks the unknown keys inside oidc_providers and sso,
// and Synapse's other ways to log in: Synapse has more (skip_verification,
// backchannel_logout_ignore_sub, sso.update_profile_information, the
// older oidc_config, SAML, JWT), and an ignored one there would change who
// may log in, or how, without anyone noticing.
func unsupportedSSOKeys(unknown []string) (rest []string, err error) {
	var bad []string
	for _, k := range unknown {
		if strings.HasPrefix(k, "oidc_providers[") || strings.HasPrefix(k, "sso.") ||
			slices.Contains([]string{"oidc_config", "saml2_config", "jwt_config", "cas_config"}, k) {
			bad = append(bad, k)
		} else {
			rest = append(rest, k)
		}
	}
	if len(bad) > 0 {
		return rest, fmt.Errorf("config: single sign-on settings rohrpost does not implement: %s (see docs/sso.md)", strings.Join(bad, ", "))
	}
	return rest, nil
}
