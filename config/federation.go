package config

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// The federation keys of Config, and what they mean:
//
//   - federation_domain_whitelist (Synapse's key and semantics): absent,
//     every server may federate; a list, only those; an empty list, none
//     at all. Our own server names are always allowed.
//   - federation_domain_denylist: servers refused even when the whitelist
//     names them.
//   - trusted_key_servers: notaries asked for other servers' keys when a
//     server cannot be reached directly. Empty by default: a closed
//     federation of agencies needs none and should not depend on a third
//     party.
//   - federation_verify_certificates (default true) and tls_client.verify:
//     either one false switches off certificate verification for
//     federation.
//   - federation_custom_ca_list: PEM files of CAs trusted for federation
//     in addition to the system's and tls_client.ca_file.
//   - ip_range_blacklist also bounds outbound federation (see
//     FederationDenyNetworks).

// TrustedKeyServer is a notary whose answers about other servers' keys we
// believe when they carry one of its VerifyKeys' signatures.
type TrustedKeyServer struct {
	ServerName spec.ServerName `yaml:"server_name"`
	// VerifyKeys maps key ids ("ed25519:auto") to unpadded base64 public
	// keys. At least one is required: a notary we cannot check would be
	// a notary we trust blindly.
	VerifyKeys map[string]string `yaml:"verify_keys"`
}

var keyIDRE = regexp.MustCompile(`^ed25519:[A-Za-z0-9_]+$`)

// PublicKeys decodes VerifyKeys.
func (k TrustedKeyServer) PublicKeys() (map[gomatrixserverlib.KeyID]ed25519.PublicKey, error) {
	if len(k.VerifyKeys) == 0 {
		return nil, errors.New("verify_keys must name at least one key")
	}
	out := make(map[gomatrixserverlib.KeyID]ed25519.PublicKey, len(k.VerifyKeys))
	for id, b64 := range k.VerifyKeys {
		if !keyIDRE.MatchString(id) {
			return nil, fmt.Errorf("key id %q is not ed25519:<version>", id)
		}
		raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(b64, "="))
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("key %s is not 32 bytes of unpadded base64", id)
		}
		out[gomatrixserverlib.KeyID(id)] = ed25519.PublicKey(raw)
	}
	return out, nil
}

// DefaultIPRangeBlacklist is what ip_range_blacklist means when unset:
// loopback, private, link-local, carrier-grade NAT, multicast and the
// unspecified addresses. A peer that names such an address could make us
// reach services that are not meant to be reached from outside.
var DefaultIPRangeBlacklist = []string{
	"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
	"0.0.0.0/8", "192.0.0.0/24", "198.18.0.0/15", "224.0.0.0/4",
	"::1/128", "::/128", "fc00::/7", "fe80::/10", "ff00::/8",
}

// FederationDenyNetworks are the address ranges outbound federation
// requests may not connect to: ip_range_blacklist, or the default list
// when unset. An explicit empty list allows every address (two servers
// on loopback in tests and SyTest).
func (c *Config) FederationDenyNetworks() []string {
	if c.IPRangeBlacklist != nil {
		return *c.IPRangeBlacklist
	}
	return DefaultIPRangeBlacklist
}

// FederationVerify tells whether federation checks the certificates of
// other servers.
func (c *Config) FederationVerify() bool {
	return c.TLSClient.Verify && (c.FederationVerifyCertificates == nil || *c.FederationVerifyCertificates)
}

// FederationTLS is the client TLS configuration of federation requests:
// the system's CAs plus tls_client.ca_file and federation_custom_ca_list,
// or no verification at all when the operator switched it off.
func (c *Config) FederationTLS() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if !c.FederationVerify() {
		cfg.InsecureSkipVerify = true //nolint:gosec // the operator's explicit choice
		return cfg, nil
	}
	files := c.FederationCustomCAList
	if c.TLSClient.CAFile != "" {
		files = append([]string{c.TLSClient.CAFile}, files...)
	}
	if len(files) == 0 {
		return cfg, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, f := range files {
		if err := appendPEMFile(pool, f); err != nil {
			return nil, err
		}
	}
	cfg.RootCAs = pool
	return cfg, nil
}

func appendPEMFile(pool *x509.CertPool, path string) error {
	pem, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read CA file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no PEM certificate", path)
	}
	return nil
}

// validateFederation checks the federation keys; every key either works
// or is refused here.
func (c *Config) validateFederation() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config key %s: %s", key, fmt.Sprintf(format, args...)))
	}
	serverNames := func(key string, names []string) {
		for i, n := range names {
			if _, _, ok := spec.ParseAndValidateServerName(spec.ServerName(n)); !ok {
				bad(fmt.Sprintf("%s[%d]", key, i), "%q is not a server name", n)
			}
		}
	}
	federationOff := c.FederationDomainWhitelist != nil && len(*c.FederationDomainWhitelist) == 0
	if c.FederationDomainWhitelist != nil {
		serverNames("federation_domain_whitelist", *c.FederationDomainWhitelist)
	}
	serverNames("federation_domain_denylist", c.FederationDomainDenylist)
	for i, ks := range c.TrustedKeyServers {
		key := fmt.Sprintf("trusted_key_servers[%d]", i)
		if _, _, ok := spec.ParseAndValidateServerName(ks.ServerName); !ok {
			bad(key+".server_name", "%q is not a server name", ks.ServerName)
		}
		if _, err := ks.PublicKeys(); err != nil {
			bad(key+".verify_keys", "%v", err)
		}
		if federationOff {
			bad(key, "federation is off (federation_domain_whitelist is empty), so no key server is ever asked")
		}
	}
	for i, f := range c.FederationCustomCAList {
		if err := appendPEMFile(x509.NewCertPool(), f); err != nil {
			bad(fmt.Sprintf("federation_custom_ca_list[%d]", i), "%v", err)
		}
	}
	if v := c.FederationVerifyCertificates; v != nil && *v && !c.TLSClient.Verify {
		bad("federation_verify_certificates", "true has no effect while tls_client.verify is false")
	}
	if len(c.FederationCustomCAList) > 0 && !c.FederationVerify() {
		bad("federation_custom_ca_list", "has no effect while certificate verification is off (federation_verify_certificates or tls_client.verify)")
	}
	return errs
}
