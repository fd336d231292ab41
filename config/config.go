package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"gopkg.in/yaml.v3"
)

// Config is the whole server configuration. The key names follow the
// contract in shared/sytest/CONTRACT.md and, where it is silent, Synapse's.
type Config struct {
	// Profile applies a set of defaults under the keys of this file
	// (profile.go); "bundesmessenger" is the only one.
	Profile        string          `yaml:"profile"`
	ServerName     spec.ServerName `yaml:"server_name"`
	PublicBaseURL  string          `yaml:"public_baseurl"`
	DataDir        string          `yaml:"data_dir"`
	SigningKeyPath string          `yaml:"signing_key_path"`
	TLSCertPath    string          `yaml:"tls_certificate_path"`
	TLSKeyPath     string          `yaml:"tls_private_key_path"`
	Listeners      []Listener      `yaml:"listeners"`
	Database       Database        `yaml:"database"`
	NATS           NATS            `yaml:"nats"`
	MediaStorePath string          `yaml:"media_store_path"`
	// MaxUploadSize bounds one upload (bytes, or like 50M).
	MaxUploadSize ByteSize `yaml:"max_upload_size"`
	// ServeUnauthenticatedMedia keeps the deprecated unauthenticated
	// /_matrix/media/v3 downloads working; off, they are frozen as the
	// spec advises and only the authenticated ones serve media.
	ServeUnauthenticatedMedia bool `yaml:"serve_unauthenticated_media"`
	// IPRangeBlacklist are the addresses URL previews may not fetch from
	// (Synapse's ip_range_blacklist); unset means the private, loopback
	// and link-local ranges, so a preview cannot reach internal services.
	IPRangeBlacklist *[]string `yaml:"ip_range_blacklist"`
	// ThumbnailSizes are made right after an image upload; other sizes
	// on request. Synapse's key and shape.
	ThumbnailSizes []ThumbnailSize `yaml:"thumbnail_sizes"`
	// MediaQuotaPerUser bounds the bytes one user may have uploaded (0:
	// no bound).
	MediaQuotaPerUser ByteSize `yaml:"media_quota_per_user"`
	// LimitsInfoURI is the page a user who reached a limit of their
	// account (the media quota) is sent to: the spec's info_uri of
	// M_USER_LIMIT_EXCEEDED. Unset, it is public_baseurl.
	LimitsInfoURI string `yaml:"limits_info_uri"`
	// ContentScanner scans every upload with ClamAV before it is stored.
	ContentScanner ContentScanner `yaml:"content_scanner"`
	LogFile        string         `yaml:"log_file"`
	LogLevel       string         `yaml:"log_level"`
	// LogFormat is "text" (slog's key=value lines) or "json" (one JSON
	// object a line, for log collectors); the access log included.
	LogFormat string `yaml:"log_format"`

	RegistrationSharedSecret string `yaml:"registration_shared_secret"`
	// RegistrationSharedSecretPath holds the secret when
	// registration_shared_secret is not set (Synapse's key). The server
	// writes a new random one there at its first start; unset, it is
	// data_dir/registration_shared_secret. `rohrpost register-user`
	// reads it.
	RegistrationSharedSecretPath          string `yaml:"registration_shared_secret_path"`
	EnableRegistration                    bool   `yaml:"enable_registration"`
	EnableRegistrationWithoutVerification bool   `yaml:"enable_registration_without_verification"`
	// RegistrationsRequire3PID lists the media ("email") every new
	// account must prove.
	RegistrationsRequire3PID []string `yaml:"registrations_require_3pid"`
	// RegistrationRequiresToken puts m.login.registration_token into every
	// registration flow: new accounts need a token an admin made (admin
	// API /v1/registration_tokens). Synapse's key.
	RegistrationRequiresToken bool `yaml:"registration_requires_token"`
	AllowGuestAccess          bool `yaml:"allow_guest_access"`

	// RefreshableAccessTokenLifetime is how long an access token lives
	// when the client asked for a refresh token (refresh_token: true at
	// login or registration); POST /refresh gives a new one. Tokens of
	// clients that did not ask never expire. Synapse's key.
	RefreshableAccessTokenLifetime Duration `yaml:"refreshable_access_token_lifetime"`

	// DefaultRoomVersion is used by createRoom when the client names none.
	DefaultRoomVersion string `yaml:"default_room_version"`

	RateLimiting RateLimiting `yaml:"rate_limiting"`
	// RateLimits are the rc_* keys (config/ratelimit.go).
	RateLimits `yaml:",inline"`
	TLSClient  TLSClient `yaml:"tls_client"`
	// AppServiceConfigFiles are accepted (SyTest always writes two) and
	// ignored with a warning at start: no application services yet.
	AppServiceConfigFiles []string `yaml:"app_service_config_files"`
	URLPreview            Toggle   `yaml:"url_preview"`
	// Push is how push notifications reach the apps' push gateways.
	Push          Push          `yaml:"push"`
	RoomDirectory RoomDirectory `yaml:"room_directory"`
	UserDirectory UserDirectory `yaml:"user_directory"`
	// EncryptionByDefault makes createRoom encrypt new rooms: "all",
	// "invite" (private chats) or "off" (Synapse's key and values).
	EncryptionByDefault string `yaml:"encryption_enabled_by_default_for_room_type"`
	// TURN servers for calls (GET /voip/turnServer), with Synapse's keys.
	TURNURIs         []string `yaml:"turn_uris"`
	TURNSharedSecret string   `yaml:"turn_shared_secret"`
	TURNUsername     string   `yaml:"turn_username"`
	TURNPassword     string   `yaml:"turn_password"`
	TURNUserLifetime Duration `yaml:"turn_user_lifetime"`
	TURNAllowGuests  bool     `yaml:"turn_allow_guests"`
	// ServerNotices are Synapse's keys (server_notices.go).
	ServerNotices ServerNotices `yaml:"server_notices"`

	Presence  Toggle    `yaml:"presence"`
	Email     Email     `yaml:"email"`
	Recaptcha Recaptcha `yaml:"recaptcha"`
	CAS       CAS       `yaml:"cas"`
	WellKnown WellKnown `yaml:"well_known"`
	// Gateway is the entry point's view of separate services.
	Gateway Gateway `yaml:"gateway"`
	// TrustedProxies are the addresses (CIDRs) of reverse proxies, such as
	// the gateway, whose X-Forwarded-For names the client.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// SSO is oidc_providers (config/oidc.go).
	SSO `yaml:",inline"`

	FederationDomainWhitelist    *[]string          `yaml:"federation_domain_whitelist"`
	FederationDomainDenylist     []string           `yaml:"federation_domain_denylist"`
	TrustedKeyServers            []TrustedKeyServer `yaml:"trusted_key_servers"`
	FederationVerifyCertificates *bool              `yaml:"federation_verify_certificates"`
	FederationCustomCAList       []string           `yaml:"federation_custom_ca_list"`

	// Privacy are Synapse's profile, invite and password keys
	// (config/privacy.go).
	Privacy `yaml:",inline"`
	// BundesMessenger configures the BundesMessenger apps' own endpoints
	// (config/bundesmessenger.go).
	BundesMessenger BundesMessenger `yaml:"bundesmessenger"`
	// MatrixRTC lists the call transports (MSC4143).
	MatrixRTC MatrixRTC `yaml:"matrix_rtc"`

	// DataRetention are the retention jobs' keys (config/retention.go).
	DataRetention `yaml:",inline"`
	// DelayedEvents are the MSC4140 limits (delayed_events.go).
	DelayedEvents `yaml:",inline"`
}

// Listener is one HTTP(S) port and the APIs it serves.
type Listener struct {
	BindAddress string   `yaml:"bind_address"`
	Port        int      `yaml:"port"`
	TLS         bool     `yaml:"tls"`
	Resources   []string `yaml:"resources"`
}

// Addr is the listener's host:port.
func (l Listener) Addr() string {
	return fmt.Sprintf("%s:%d", l.BindAddress, l.Port)
}

// Database selects SQLite (a file) or PostgreSQL (a URI).
type Database struct {
	Type         string `yaml:"type"`
	Path         string `yaml:"path"`
	URI          string `yaml:"uri"`
	MaxOpenConns int    `yaml:"max_open_conns"`
}

// NATS names an external NATS JetStream cluster; with no addresses the
// server embeds its own, in-process and without a TCP port.
type NATS struct {
	Addresses []string `yaml:"addresses"`
	StoreDir  string   `yaml:"store_dir"`
	// Replicas is how many servers of a NATS cluster keep each stream and
	// key-value bucket (1 to 5; 3 for a three-server cluster).
	Replicas int `yaml:"replicas"`
}

type RateLimiting struct {
	Enabled bool `yaml:"enabled"`
}

type TLSClient struct {
	Verify bool   `yaml:"verify"`
	CAFile string `yaml:"ca_file"`
}

type Toggle struct {
	Enabled bool `yaml:"enabled"`
}

// ThumbnailSize is one thumbnail made ahead: width, height, crop or scale.
type ThumbnailSize struct {
	Width  int    `yaml:"width"`
	Height int    `yaml:"height"`
	Method string `yaml:"method"`
}

// ContentScanner is the ClamAV daemon uploads go through. Without clamd
// nothing is scanned.
type ContentScanner struct {
	// Clamd is "unix:/path/clamd.ctl" or "tcp:host:port".
	Clamd string `yaml:"clamd"`
	// FailClosed refuses uploads while clamd cannot scan them (and files
	// larger than MaxScanSize); otherwise they are stored unscanned.
	FailClosed  bool     `yaml:"fail_closed"`
	MaxScanSize ByteSize `yaml:"max_scan_size"`
}

// UserDirectory is what /user_directory/search finds. By default the
// users who share a room with the searcher or sit in a public room; with
// search_all_users also every other active account of the searcher's own
// server name (never those of other tenants of the deployment).
type UserDirectory struct {
	SearchAllUsers bool `yaml:"search_all_users"`
}

type RoomDirectory struct {
	AllowPublicRoomsOverFederation bool `yaml:"allow_public_rooms_over_federation"`
	AllowPublicRoomsWithoutAuth    bool `yaml:"allow_public_rooms_without_auth"`
}

// Email is the SMTP server through which rohrpost mails the tokens that
// prove an address (registration, adding an address, password reset).
// Without smtp_host the server handles no e-mail addresses.
type Email struct {
	SMTPHost string `yaml:"smtp_host"`
	SMTPPort int    `yaml:"smtp_port"`
	SMTPUser string `yaml:"smtp_user"`
	SMTPPass string `yaml:"smtp_pass"`
	// RequireTransportSecurity refuses to send unless the SMTP server
	// offers STARTTLS.
	RequireTransportSecurity bool   `yaml:"require_transport_security"`
	NotifFrom                string `yaml:"notif_from"`
}

// Enabled tells whether e-mail addresses can be validated.
func (e Email) Enabled() bool { return e.SMTPHost != "" }

type Recaptcha struct {
	Required      bool   `yaml:"required"`
	SiteverifyAPI string `yaml:"siteverify_api"`
	PublicKey     string `yaml:"public_key"`
	PrivateKey    string `yaml:"private_key"`
}

type CAS struct {
	Enabled   bool   `yaml:"enabled"`
	ServerURL string `yaml:"server_url"`
}

// WellKnown is what /.well-known/matrix/{client,server} answer; empty
// values are derived from public_baseurl.
type WellKnown struct {
	ClientBaseURL string `yaml:"client_base_url"`
	Server        string `yaml:"server"`
	// Support is what /.well-known/matrix/support answers; with neither
	// contacts nor a support page it answers 404.
	Support Support `yaml:"support"`
	// E2EE is io.element.e2ee in the client well-known; nil leaves it out.
	E2EE *E2EE `yaml:"e2ee"`
	// MapStyleURL is m.tile_server.map_style_url; unset, it is the
	// served bundesmessenger.map_style_file, if any.
	MapStyleURL string `yaml:"map_style_url"`
	// ClientExtra are further keys of /.well-known/matrix/client, served
	// as written (they win over the derived ones, m.homeserver excepted).
	ClientExtra map[string]any `yaml:"client_extra"`
}

// Support is the server's administrators and help page (spec v1.10).
type Support struct {
	Contacts    []SupportContact `yaml:"contacts" json:"contacts,omitempty"`
	SupportPage string           `yaml:"support_page" json:"support_page,omitempty"`
}

// Configured tells whether there is anything to announce.
func (s Support) Configured() bool { return len(s.Contacts) > 0 || s.SupportPage != "" }

// SupportContact is one way to reach an administrator: a Matrix user id,
// an e-mail address or both, and a role (m.role.admin, m.role.security
// or a namespaced one).
type SupportContact struct {
	MatrixID     string `yaml:"matrix_id" json:"matrix_id,omitempty"`
	EmailAddress string `yaml:"email_address" json:"email_address,omitempty"`
	Role         string `yaml:"role" json:"role"`
}

// Gateway lists the base URLs of the processes that serve each part of
// the HTTP API, for the gateway component of a separate-services
// deployment.
type Gateway struct {
	ClientAPI     []string `yaml:"clientapi"`
	SyncAPI       []string `yaml:"syncapi"`
	FederationAPI []string `yaml:"federationapi"`
	MediaAPI      []string `yaml:"mediaapi"`
}

// Default is the zero-configuration server: localhost on 127.0.0.1:8008,
// SQLite and embedded NATS under ./data.
func Default() *Config {
	return &Config{
		ServerName: "localhost",
		DataDir:    "data",
		Listeners: []Listener{{
			BindAddress: "127.0.0.1", Port: 8008,
			Resources: []string{"client", "federation", "media"},
		}},
		Database:           Database{Type: "sqlite"},
		LogLevel:           "info",
		DefaultRoomVersion: "10",
		RateLimiting:       RateLimiting{Enabled: true},
		RateLimits:         DefaultRateLimits(),
		DataRetention:      DefaultDataRetention(),
		DelayedEvents:      DefaultDelayedEvents(),
		TLSClient:          TLSClient{Verify: true},
		Presence:           Toggle{Enabled: true},
		Privacy:            defaultPrivacy(),
		Push:               Push{IncludeContent: true},
		TURNUserLifetime:   Duration(time.Hour),
		// Synapse's default; see docs/decisions/0016.
		RefreshableAccessTokenLifetime: Duration(5 * time.Minute),
		MaxUploadSize:                  ByteSize(50 << 20),
		ThumbnailSizes:                 []ThumbnailSize{{32, 32, "crop"}, {96, 96, "crop"}, {320, 240, "scale"}, {640, 480, "scale"}, {800, 600, "scale"}},
		ContentScanner:                 ContentScanner{FailClosed: true, MaxScanSize: ByteSize(100 << 20)},
		TURNAllowGuests:                true,
	}
}

// Load reads a YAML file over the defaults. Unknown keys come back as
// warnings, never as an error; invalid values are an error naming each key.
func Load(path string) (*Config, []string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(raw, filepath.Dir(path))
}

// Parse is Load for YAML already read; relative paths resolve against dir.
func Parse(raw []byte, dir string) (*Config, []string, error) {
	cfg := Default()
	cfg.DataDir = filepath.Join(dir, "data")
	var node yaml.Node
	if err := yaml.Unmarshal(raw, &node); err != nil {
		return nil, nil, fmt.Errorf("config is not valid YAML: %w", err)
	}
	warnings, err := unsupportedRateLimits(unknownKeys(&node, cfg))
	if err == nil {
		warnings, err = unsupportedSSOKeys(warnings)
	}
	if err != nil {
		return nil, warnings, err
	}
	// The profile's defaults go under the file's keys, so every key the
	// file names wins over the profile.
	if err := cfg.applyProfile(&node); err != nil {
		return nil, warnings, err
	}
	if err := node.Decode(cfg); err != nil {
		return nil, warnings, fmt.Errorf("config: %w", err)
	}
	cfg.resolvePaths(dir)
	if err := cfg.Validate(); err != nil {
		return nil, warnings, err
	}
	return cfg, warnings, nil
}

func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.DataDir)
	abs(&c.SigningKeyPath)
	abs(&c.TLSCertPath)
	abs(&c.TLSKeyPath)
	abs(&c.Database.Path)
	abs(&c.MediaStorePath)
	abs(&c.LogFile)
	abs(&c.RegistrationSharedSecretPath)
	abs(&c.NATS.StoreDir)
	for i := range c.AppServiceConfigFiles {
		abs(&c.AppServiceConfigFiles[i])
	}
}

// Finish fills the values that derive from others. Call it after Load or
// Default, before use.
func (c *Config) Finish() {
	if c.SigningKeyPath == "" {
		c.SigningKeyPath = filepath.Join(c.DataDir, "signing.key")
	}
	if c.Database.Type == "" || c.Database.Type == "sqlite3" {
		c.Database.Type = "sqlite"
	}
	if c.Database.Type == "sqlite" && c.Database.Path == "" {
		c.Database.Path = filepath.Join(c.DataDir, "rohrpost.db")
	}
	if c.RegistrationSharedSecret == "" && c.RegistrationSharedSecretPath == "" {
		c.RegistrationSharedSecretPath = filepath.Join(c.DataDir, "registration_shared_secret")
	}
	if c.NATS.StoreDir == "" {
		c.NATS.StoreDir = filepath.Join(c.DataDir, "nats")
	}
	if c.MediaStorePath == "" {
		c.MediaStorePath = filepath.Join(c.DataDir, "media")
	}
	if c.PublicBaseURL == "" && len(c.Listeners) > 0 {
		l := c.Listeners[0]
		scheme := "http"
		if l.TLS {
			scheme = "https"
		}
		c.PublicBaseURL = fmt.Sprintf("%s://%s", scheme, l.Addr())
	}
}

// Validate checks every section and reports all problems at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config key %s: %s", key, fmt.Sprintf(format, args...)))
	}
	for _, e := range c.RateLimits.validate() {
		errs = append(errs, fmt.Errorf("config key %s", e))
	}
	if c.ServerName == "" {
		bad("server_name", "must be set")
	} else if _, _, ok := spec.ParseAndValidateServerName(c.ServerName); !ok {
		bad("server_name", "%q is not a valid server name", c.ServerName)
	}
	if c.PublicBaseURL != "" {
		if u, err := url.Parse(c.PublicBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("public_baseurl", "%q is not an http(s) URL", c.PublicBaseURL)
		}
	}
	if len(c.Listeners) == 0 {
		bad("listeners", "at least one listener is required")
	}
	for i, l := range c.Listeners {
		key := fmt.Sprintf("listeners[%d]", i)
		if l.Port < 0 || l.Port > 65535 {
			bad(key+".port", "%d is not a port", l.Port)
		}
		if l.TLS && (c.TLSCertPath == "" || c.TLSKeyPath == "") {
			bad(key+".tls", "needs tls_certificate_path and tls_private_key_path")
		}
		for _, r := range l.Resources {
			switch r {
			case "client", "federation", "media", "keys", "admin":
			case "metrics": // Prometheus' scrapes (docs/metrics.md)
			default:
				bad(key+".resources", "unknown resource %q", r)
			}
		}
	}
	switch c.Database.Type {
	case "", "sqlite", "sqlite3":
	case "postgres", "postgresql", "pg":
		if c.Database.URI == "" {
			bad("database.uri", "must be set for type %s", c.Database.Type)
		}
	default:
		bad("database.type", "%q is neither sqlite nor postgres", c.Database.Type)
	}
	if c.DefaultRoomVersion != "" {
		if !gomatrixserverlib.KnownRoomVersion(gomatrixserverlib.RoomVersion(c.DefaultRoomVersion)) {
			bad("default_room_version", "unknown room version %q", c.DefaultRoomVersion)
		}
	}
	for _, g := range []struct {
		key  string
		urls []string
	}{{"gateway.clientapi", c.Gateway.ClientAPI}, {"gateway.syncapi", c.Gateway.SyncAPI}, {"gateway.federationapi", c.Gateway.FederationAPI},
		{"gateway.mediaapi", c.Gateway.MediaAPI}} {
		key := g.key
		for _, raw := range g.urls {
			if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(key, "%q is not an http(s) URL", raw)
			}
		}
	}
	if c.Email.Enabled() {
		if a, err := mail.ParseAddress(c.Email.NotifFrom); err != nil || a.Name != "" {
			bad("email.notif_from", "%q is not an e-mail address", c.Email.NotifFrom)
		}
		if c.Email.SMTPPort < 0 || c.Email.SMTPPort > 65535 {
			bad("email.smtp_port", "%d is not a port", c.Email.SMTPPort)
		}
		if c.PublicBaseURL == "" {
			bad("public_baseurl", "must be set when email is configured: the links in the mails point there")
		}
	}
	for _, m := range c.RegistrationsRequire3PID {
		if m != "email" {
			bad("registrations_require_3pid", "%q is not supported; only email is", m)
		} else if !c.Email.Enabled() {
			bad("registrations_require_3pid", "email needs email.smtp_host")
		}
	}
	if c.EnableRegistration && !c.EnableRegistrationWithoutVerification && !c.Email.Enabled() && !c.RegistrationRequiresToken &&
		(c.Recaptcha.PrivateKey == "" || c.Recaptcha.SiteverifyAPI == "") {
		bad("enable_registration", "open registration needs a way to verify new users: set enable_registration_without_verification: true, registration_requires_token: true, or configure email or recaptcha")
	}
	switch c.EncryptionByDefault {
	case "", "all", "invite", "off":
	default:
		bad("encryption_enabled_by_default_for_room_type", "%q is not all, invite or off", c.EncryptionByDefault)
	}
	for i, u := range c.TURNURIs {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			bad(fmt.Sprintf("turn_uris[%d]", i), "%q is not a turn: or turns: URI", u)
		}
	}
	if len(c.TURNURIs) > 0 && c.TURNSharedSecret == "" && (c.TURNUsername == "" || c.TURNPassword == "") {
		bad("turn_uris", "TURN needs turn_shared_secret, or turn_username and turn_password")
	}
	if c.IPRangeBlacklist != nil {
		for i, cidr := range *c.IPRangeBlacklist {
			if _, _, err := net.ParseCIDR(cidr); err != nil {
				bad(fmt.Sprintf("ip_range_blacklist[%d]", i), "%q is not a CIDR range", cidr)
			}
		}
	}
	if c.Push.IPRangeBlacklist != nil {
		for i, cidr := range *c.Push.IPRangeBlacklist {
			if _, _, err := net.ParseCIDR(cidr); err != nil {
				bad(fmt.Sprintf("push.ip_range_blacklist[%d]", i), "%q is not a CIDR range", cidr)
			}
		}
	}
	if a := c.ContentScanner.Clamd; a != "" && !strings.HasPrefix(a, "unix:") && !strings.HasPrefix(a, "tcp:") {
		bad("content_scanner.clamd", "%q is not unix:/path or tcp:host:port", a)
	}
	for i, ts := range c.ThumbnailSizes {
		if ts.Width <= 0 || ts.Height <= 0 || ts.Width > 4096 || ts.Height > 4096 || (ts.Method != "crop" && ts.Method != "scale") {
			bad(fmt.Sprintf("thumbnail_sizes[%d]", i), "needs width and height (1 to 4096) and method crop or scale")
		}
	}
	if c.MaxUploadSize <= 0 {
		bad("max_upload_size", "must be positive")
	}
	if c.TURNUserLifetime <= 0 {
		bad("turn_user_lifetime", "must be positive")
	}
	if c.RefreshableAccessTokenLifetime < Duration(time.Second) {
		bad("refreshable_access_token_lifetime", "must be at least 1s")
	}
	c.validateSupport(bad)
	c.SSO.validate(c, bad)
	if c.NATS.Replicas < 0 || c.NATS.Replicas > 5 {
		bad("nats.replicas", "%d is not between 1 and 5", c.NATS.Replicas)
	}
	if c.NATS.Replicas > 1 && len(c.NATS.Addresses) == 0 {
		bad("nats.replicas", "needs an external NATS cluster (nats.addresses)")
	}
	for i, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				bad(fmt.Sprintf("trusted_proxies[%d]", i), "%q is neither an address nor a CIDR", p)
			}
		}
	}
	switch strings.ToLower(c.LogLevel) {
	case "", "debug", "info", "warn", "warning", "error":
	default:
		bad("log_level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		bad("log_format", "%q is neither text nor json", c.LogFormat)
	}
	errs = append(errs, c.ServerNotices.validate()...)
	errs = append(errs, c.validateFederation()...)
	c.validatePrivacy(bad)
	c.validateBundesMessenger(bad)
	errs = append(errs, c.DataRetention.validate()...)
	errs = append(errs, c.DelayedEvents.validate()...)
	return errors.Join(errs...)
}

// Warnings are what the config asks for that the server will not do,
// where refusing to start would be worse: SyTest's config always lists
// application services (shared/sytest/CONTRACT.md), and a server without
// a virus scanner still serves. The binary prints them at every start.
func (c *Config) Warnings() []string {
	var out []string
	if n := len(c.AppServiceConfigFiles); n > 0 {
		out = append(out, fmt.Sprintf("app_service_config_files: application services are not supported yet; the %d registration file(s) listed are ignored", n))
	}
	if c.ContentScanner.Clamd == "" {
		out = append(out, "content_scanner.clamd is not set: uploads are stored WITHOUT a virus scan. Point it at a ClamAV daemon (unix:/run/clamav/clamd.ctl or tcp:host:3310)")
	}
	return out
}

// TrustedProxyPrefixes parses TrustedProxies (validated by Validate).
func (c *Config) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range c.TrustedProxies {
		if pre, err := netip.ParsePrefix(p); err == nil {
			out = append(out, pre)
		} else if a, err := netip.ParseAddr(p); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

// HasResource tells whether any listener serves the named API.
func (l Listener) HasResource(name string) bool {
	for _, r := range l.Resources {
		if r == name {
			return true
		}
	}
	return false
}

// LocalServerNames are the server names this deployment serves. Code that
// asks "is this user local" asks this set, never ServerName alone, so that
// hosting several names (one per agency) changes one place.
func (c *Config) LocalServerNames() []spec.ServerName {
	return []spec.ServerName{c.ServerName}
}

// IsLocal tells whether name is one of the local server names.
func (c *Config) IsLocal(name spec.ServerName) bool {
	for _, n := range c.LocalServerNames() {
		if n == name {
			return true
		}
	}
	return false
}

// Push configures the sending of push notifications.
type Push struct {
	// IPRangeBlacklist are the addresses push gateways may not have;
	// unset means only unspecified and multicast addresses (a gateway on
	// this host or the agency's network is allowed, as in Synapse).
	IPRangeBlacklist *[]string `yaml:"ip_range_blacklist"`
	// IncludeContent puts the message's sender, type and content into
	// the notification sent to the push gateway (Synapse's default);
	// off, a push carries only the event and room ids and the counts,
	// and the app fetches the event itself.
	IncludeContent bool `yaml:"include_content"`
}

// validateSupport checks well_known.support against the spec's schema of
// /.well-known/matrix/support.
func (c *Config) validateSupport(bad func(key, format string, args ...any)) {
	s := c.WellKnown.Support
	for i, ct := range s.Contacts {
		key := fmt.Sprintf("well_known.support.contacts[%d]", i)
		if ct.MatrixID == "" && ct.EmailAddress == "" {
			bad(key, "needs matrix_id or email_address")
		}
		if ct.MatrixID != "" {
			if _, err := spec.NewUserID(ct.MatrixID, true); err != nil {
				bad(key+".matrix_id", "%q is not a Matrix user id", ct.MatrixID)
			}
		}
		if ct.EmailAddress != "" {
			if a, err := mail.ParseAddress(ct.EmailAddress); err != nil || a.Name != "" {
				bad(key+".email_address", "%q is not an e-mail address", ct.EmailAddress)
			}
		}
		switch {
		case ct.Role == "m.role.admin", ct.Role == "m.role.security":
		case ct.Role == "" || strings.HasPrefix(ct.Role, "m."):
			bad(key+".role", "%q is not m.role.admin, m.role.security or a namespaced role (like org.example.role)", ct.Role)
		case !strings.Contains(ct.Role, "."):
			bad(key+".role", "%q is not namespaced (like org.example.role)", ct.Role)
		}
	}
	if s.SupportPage != "" {
		if u, err := url.Parse(s.SupportPage); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("well_known.support.support_page", "%q is not an http(s) URL", s.SupportPage)
		}
	}
}
