package config

import (
	"strings"
	"testing"
)

// TestSyTestConfigStarts: what SyTest writes (shared/sytest/CONTRACT.md
// §3) still loads: server notices off, and application service files,
// which are only warned about.
func TestSyTestConfigStarts(t *testing.T) {
	raw := `server_name: localhost:8800
listeners:
  - bind_address: localhost
    port: 8801
    tls: false
    resources: [client, media]
app_service_config_files:
  - /tmp/appserv-0.yaml
  - /tmp/appserv-1.yaml
server_notices:
  enabled: false
`
	cfg, _, err := Parse([]byte(raw), t.TempDir())
	if err != nil {
		t.Fatalf("SyTest's config refused: %v", err)
	}
	warned := strings.Join(cfg.Warnings(), "\n")
	if !strings.Contains(warned, "app_service_config_files") || !strings.Contains(warned, "not supported yet") {
		t.Fatalf("no warning about the ignored application services: %q", warned)
	}
}

// TestNoScannerWarns: without a ClamAV daemon uploads go unscanned, and
// the start says so; with one, nothing is said.
func TestNoScannerWarns(t *testing.T) {
	cfg := Default()
	if w := strings.Join(cfg.Warnings(), "\n"); !strings.Contains(w, "content_scanner.clamd") || !strings.Contains(w, "WITHOUT a virus scan") {
		t.Fatalf("warnings = %q, want one about the missing scanner", w)
	}
	cfg.ContentScanner.Clamd = "tcp:127.0.0.1:3310"
	if w := cfg.Warnings(); len(w) != 0 {
		t.Fatalf("warnings with a scanner: %q", w)
	}
}
