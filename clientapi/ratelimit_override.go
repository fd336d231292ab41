package clientapi

import (
	"github.com/rohrpost/rohrpost/internal/ratelimit"
	"github.com/rohrpost/rohrpost/userapi"
)

// userRule is the per-user rule name for dev's user: the configured one,
// or the admin's override (the admin API's override_ratelimit) in its
// stead, as Synapse applies it to every per-user limit. An override of 0
// messages per second means no limit (ok false).
func (s *Server) userRule(name string, dev *userapi.Device) (rule ratelimit.Rule, ok bool) {
	o := dev.RateOverride
	if o == nil {
		return s.rule(name), true
	}
	if o.MessagesPerSecond <= 0 {
		return ratelimit.Rule{}, false
	}
	// Buckets of their own: a bucket filled under one rate means nothing
	// under another.
	return ratelimit.Rule{Name: name + "/override", PerSecond: float64(o.MessagesPerSecond), Burst: float64(max(o.BurstCount, 1))}, true
}
