package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeCA writes a self-signed CA certificate as PEM and returns its path
// and the parsed certificate.
func writeCA(t *testing.T) (string, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "federation test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, cert
}

const goodKey = "Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw"

func TestFederationKeysLoad(t *testing.T) {
	ca, _ := writeCA(t)
	yaml := `server_name: amt.example
federation_domain_whitelist: [bund.example, "land.example:8448"]
federation_domain_denylist: [bad.example]
trusted_key_servers:
  - server_name: keys.example.org
    verify_keys:
      "ed25519:auto": "` + goodKey + `"
federation_verify_certificates: true
federation_custom_ca_list: [` + ca + `]
`
	cfg, warnings, err := Parse([]byte(yaml), t.TempDir())
	if err != nil || len(warnings) > 0 {
		t.Fatalf("err %v, warnings %v", err, warnings)
	}
	if cfg.FederationDomainWhitelist == nil || !slices.Equal(*cfg.FederationDomainWhitelist, []string{"bund.example", "land.example:8448"}) {
		t.Errorf("whitelist = %v", cfg.FederationDomainWhitelist)
	}
	if !slices.Equal(cfg.FederationDomainDenylist, []string{"bad.example"}) {
		t.Errorf("denylist = %v", cfg.FederationDomainDenylist)
	}
	keys, err := cfg.TrustedKeyServers[0].PublicKeys()
	if err != nil || len(keys["ed25519:auto"]) != 32 {
		t.Errorf("trusted keys = %v, %v", keys, err)
	}
	if !cfg.FederationVerify() {
		t.Error("verification is off")
	}
}

// An absent whitelist allows everyone; an empty one switches federation
// off. The two must stay distinguishable after loading.
func TestFederationWhitelistAbsentOrEmpty(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantNil bool
	}{
		{"absent", "server_name: amt.example\n", true},
		{"empty", "server_name: amt.example\nfederation_domain_whitelist: []\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := Parse([]byte(tc.yaml), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if (cfg.FederationDomainWhitelist == nil) != tc.wantNil {
				t.Fatalf("whitelist = %v, want nil: %v", cfg.FederationDomainWhitelist, tc.wantNil)
			}
		})
	}
}

func TestInvalidFederationKeys(t *testing.T) {
	ca, _ := writeCA(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	trusted := func(name, id, key string) string {
		return "trusted_key_servers:\n  - server_name: " + name + "\n    verify_keys:\n      \"" + id + "\": \"" + key + "\"\n"
	}
	tests := []struct {
		name, yaml, key string
	}{
		{"bad whitelist name", "federation_domain_whitelist: ['a b']\n", "federation_domain_whitelist[0]"},
		{"bad denylist name", "federation_domain_denylist: [ok.example, 'x:notaport']\n", "federation_domain_denylist[1]"},
		{"bad trusted server name", trusted("'a b'", "ed25519:auto", goodKey), "trusted_key_servers[0].server_name"},
		{"trusted key not base64", trusted("keys.example", "ed25519:auto", "!!!"), "trusted_key_servers[0].verify_keys"},
		{"trusted key too short", trusted("keys.example", "ed25519:auto", "AAAA"), "trusted_key_servers[0].verify_keys"},
		{"trusted key id", trusted("keys.example", "rsa:1", goodKey), "trusted_key_servers[0].verify_keys"},
		{"trusted without keys", "trusted_key_servers:\n  - server_name: keys.example\n", "trusted_key_servers[0].verify_keys"},
		{"trusted with federation off", "federation_domain_whitelist: []\n" + trusted("keys.example", "ed25519:auto", goodKey), "trusted_key_servers[0]"},
		{"missing CA file", "federation_custom_ca_list: [/nonexistent/ca.pem]\n", "federation_custom_ca_list[0]"},
		{"CA file without PEM", "federation_custom_ca_list: [" + notPEM + "]\n", "federation_custom_ca_list[0]"},
		{"CA list with verification off", "federation_verify_certificates: false\nfederation_custom_ca_list: [" + ca + "]\n", "federation_custom_ca_list"},
		{"CA list with tls_client.verify off", "tls_client:\n  verify: false\nfederation_custom_ca_list: [" + ca + "]\n", "federation_custom_ca_list"},
		{"verification on, overridden", "tls_client:\n  verify: false\nfederation_verify_certificates: true\n", "federation_verify_certificates"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tc.yaml), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), "config key "+tc.key+":") {
				t.Fatalf("err = %v, want one naming %s", err, tc.key)
			}
		})
	}
}

func TestFederationTLS(t *testing.T) {
	ca, caCert := writeCA(t)
	off := false
	tests := []struct {
		name     string
		edit     func(c *Config)
		insecure bool
		trustsCA bool
	}{
		{"default: system CAs", func(*Config) {}, false, false},
		{"tls_client.ca_file", func(c *Config) { c.TLSClient.CAFile = ca }, false, true},
		{"federation_custom_ca_list", func(c *Config) { c.FederationCustomCAList = []string{ca} }, false, true},
		{"tls_client.verify false", func(c *Config) { c.TLSClient.Verify = false }, true, false},
		{"federation_verify_certificates false", func(c *Config) { c.FederationVerifyCertificates = &off }, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			tc.edit(cfg)
			tlsCfg, err := cfg.FederationTLS()
			if err != nil {
				t.Fatal(err)
			}
			if tlsCfg.InsecureSkipVerify != tc.insecure {
				t.Errorf("InsecureSkipVerify = %v", tlsCfg.InsecureSkipVerify)
			}
			trusts := false
			if tlsCfg.RootCAs != nil {
				_, err := caCert.Verify(x509.VerifyOptions{Roots: tlsCfg.RootCAs})
				trusts = err == nil
			}
			if trusts != tc.trustsCA {
				t.Errorf("trusts the test CA: %v, want %v", trusts, tc.trustsCA)
			}
		})
	}
}

func TestFederationDenyNetworks(t *testing.T) {
	cfg := Default()
	if !slices.Equal(cfg.FederationDenyNetworks(), DefaultIPRangeBlacklist) {
		t.Errorf("unset: %v", cfg.FederationDenyNetworks())
	}
	cfg.IPRangeBlacklist = &[]string{}
	if got := cfg.FederationDenyNetworks(); len(got) != 0 {
		t.Errorf("explicit empty list: %v", got)
	}
}
