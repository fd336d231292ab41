package federationapi

import (
	"fmt"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/config"
)

// Policy says which servers we federate with: federation_domain_whitelist
// (absent: everyone; a list: only those; empty: no one) minus
// federation_domain_denylist. Our own server names are always allowed.
//
// Names compare case-insensitively: DNS does, so "Partner.Example" reaches
// the same host, and a deny list must not be dodged by capital letters.
// The port is part of the name: "partner.example" does not allow
// "partner.example:8448", as in Synapse.
type Policy struct {
	isLocal func(spec.ServerName) bool
	// allow is nil when every server is allowed.
	allow map[string]struct{}
	deny  map[string]struct{}
}

// NewPolicy builds the policy from cfg, which Validate has checked.
func NewPolicy(cfg *config.Config) (*Policy, error) {
	p := &Policy{isLocal: cfg.IsLocal, deny: map[string]struct{}{}}
	if cfg.FederationDomainWhitelist != nil {
		p.allow = map[string]struct{}{}
		for _, n := range *cfg.FederationDomainWhitelist {
			if err := addServerName(p.allow, n); err != nil {
				return nil, fmt.Errorf("federation_domain_whitelist: %w", err)
			}
		}
	}
	for _, n := range cfg.FederationDomainDenylist {
		if err := addServerName(p.deny, n); err != nil {
			return nil, fmt.Errorf("federation_domain_denylist: %w", err)
		}
	}
	return p, nil
}

func addServerName(set map[string]struct{}, name string) error {
	if _, _, ok := spec.ParseAndValidateServerName(spec.ServerName(name)); !ok {
		return fmt.Errorf("%q is not a server name", name)
	}
	set[strings.ToLower(name)] = struct{}{}
	return nil
}

// Allowed tells whether we exchange anything with server: requests from
// it, requests to it, events and EDUs for it.
func (p *Policy) Allowed(server spec.ServerName) bool {
	if p.isLocal(server) {
		return true
	}
	name := strings.ToLower(string(server))
	if _, denied := p.deny[name]; denied {
		return false
	}
	if p.allow == nil {
		return true
	}
	_, ok := p.allow[name]
	return ok
}
