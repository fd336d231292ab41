package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLS is the client TLS configuration for outbound requests (CAS, URL
// previews, later federation): verification off only by the operator's
// explicit choice, an extra CA when given.
func (t TLSClient) TLS() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if !t.Verify {
		cfg.InsecureSkipVerify = true //nolint:gosec // tls_client.verify: false
		return cfg, nil
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls_client.ca_file: %w", err)
		}
		pool, _ := x509.SystemCertPool()
		if pool == nil {
			pool = x509.NewCertPool()
		}
		pool.AppendCertsFromPEM(pem)
		cfg.RootCAs = pool
	}
	return cfg, nil
}
