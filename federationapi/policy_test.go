package federationapi

import (
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/config"
)

func TestPolicy(t *testing.T) {
	list := func(names ...string) *[]string { return &names }
	tests := []struct {
		name      string
		whitelist *[]string
		denylist  []string
		allowed   []spec.ServerName
		refused   []spec.ServerName
	}{
		{
			name:    "no lists: everyone",
			allowed: []spec.ServerName{"amt.example", "partner.example", "1.2.3.4:8448"},
		},
		{
			name:      "whitelist: only those, port included",
			whitelist: list("partner.example", "land.example:8448"),
			allowed:   []spec.ServerName{"amt.example", "partner.example", "land.example:8448"},
			refused:   []spec.ServerName{"other.example", "partner.example:8448", "land.example"},
		},
		{
			name:      "empty whitelist: no federation, ourselves still allowed",
			whitelist: list(),
			allowed:   []spec.ServerName{"amt.example"},
			refused:   []spec.ServerName{"partner.example"},
		},
		{
			name:     "denylist without whitelist",
			denylist: []string{"bad.example"},
			allowed:  []spec.ServerName{"partner.example"},
			refused:  []spec.ServerName{"bad.example"},
		},
		{
			name:      "denylist wins over whitelist",
			whitelist: list("partner.example", "bad.example"),
			denylist:  []string{"bad.example"},
			allowed:   []spec.ServerName{"partner.example"},
			refused:   []spec.ServerName{"bad.example"},
		},
		{
			name:      "capital letters dodge nothing",
			whitelist: list("Partner.Example"),
			denylist:  []string{"bad.example"},
			allowed:   []spec.ServerName{"partner.example", "PARTNER.EXAMPLE"},
			refused:   []spec.ServerName{"Bad.Example"},
		},
		{
			name:     "a local name cannot be denied",
			denylist: []string{"amt.example"},
			allowed:  []spec.ServerName{"amt.example"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.ServerName = "amt.example"
			cfg.FederationDomainWhitelist = tc.whitelist
			cfg.FederationDomainDenylist = tc.denylist
			p, err := NewPolicy(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.allowed {
				if !p.Allowed(s) {
					t.Errorf("%s refused", s)
				}
			}
			for _, s := range tc.refused {
				if p.Allowed(s) {
					t.Errorf("%s allowed", s)
				}
			}
		})
	}
}

func TestPolicyRefusesBadNames(t *testing.T) {
	cfg := config.Default()
	cfg.FederationDomainDenylist = []string{"not a name"}
	if _, err := NewPolicy(cfg); err == nil {
		t.Fatal("a bad server name was accepted")
	}
}
