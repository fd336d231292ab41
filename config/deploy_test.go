package config

import "testing"

// The configuration shipped for docker-compose must stay loadable: no
// unknown keys, no invalid values.
func TestShippedDeployConfig(t *testing.T) {
	cfg, warnings, err := Load("../deploy/rohrpost.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Fatalf("unknown keys: %v", warnings)
	}
	if cfg.Database.Type != "postgres" || len(cfg.NATS.Addresses) == 0 || len(cfg.Gateway.SyncAPI) < 2 {
		t.Fatalf("not a separate-services config: %+v", cfg)
	}
}
