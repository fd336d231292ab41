package clientapi

import (
	"maps"
	"net/http"
	"strings"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// specVersions are the client-server spec versions whose endpoints the
// server implements. Advertise only what is true. v1.11 is the one that
// makes clients use authenticated media (/_matrix/client/v1/media), which
// they need: the unauthenticated endpoints are frozen by default.
// Up to v1.19 the later versions add nothing a server must do that is
// missing here: v1.16's custom profile fields, state_after, version 12
// creators; v1.18's admin lock and suspend endpoints, redactions through
// /send, invite blocking, M_USER_LIMIT_EXCEEDED; v1.19's mutual_rooms.
// What is left out is optional or another API: the OAuth 2.0 API
// (answered with 404 M_UNRECOGNIZED), application services, policy
// servers. Query-string access tokens, gone from v1.19, are still
// accepted for older clients.
var specVersions = []string{"r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10",
	"v1.11", "v1.12", "v1.13", "v1.14", "v1.15", "v1.16", "v1.17", "v1.18", "v1.19"}

// unstableFeatures are the unstable_features of /versions.
// org.matrix.e2e_cross_signing: cross-signing is served (stable since
// v1.1), but Element Web still looks for this flag before it sets
// cross-signing up.
var unstableFeatures = map[string]bool{
	"org.matrix.msc3814":            true,
	"org.matrix.e2e_cross_signing":  true,
	"org.matrix.simplified_msc3575": true, // Simplified Sliding Sync (MSC4186), syncapi/sliding_sync.go
}

// versions is GET /_matrix/client/versions.
func (s *Server) versions(r *http.Request) (any, error) {
	return map[string]any{
		"versions":          specVersions,
		"unstable_features": s.unstableFeatures(),
	}, nil
}

// unstableFeatures are the static ones and those the config switches on.
func (s *Server) unstableFeatures() map[string]bool {
	out := maps.Clone(unstableFeatures)
	if s.delayed != nil && s.delayed.Enabled() {
		out["org.matrix.msc4140"] = true // delayed events, delayed_events.go
	}
	return out
}

// capabilities is GET /capabilities.
func (s *Server) capabilities(r *http.Request, dev *userapi.Device) (any, error) {
	available := map[string]string{}
	for v, impl := range gomatrixserverlib.RoomVersions() {
		// Experimental versions carry a namespace ("org.matrix.msc4242.12")
		// and are never advertised as stable, whatever the library says.
		if impl.Stable() && !strings.Contains(string(v), ".") {
			available[string(v)] = "stable"
		}
	}
	caps := map[string]any{
		"m.change_password": map[string]bool{"enabled": true},
		"m.room_versions":   map[string]any{"default": s.cfg.DefaultRoomVersion, "available": available},
		"m.set_displayname": map[string]bool{"enabled": s.cfg.EnableSetDisplayName},
		"m.set_avatar_url":  map[string]bool{"enabled": s.cfg.EnableSetAvatarURL && !dev.IsGuest},
		"m.profile_fields":  s.profileFieldsCapability(dev),
		"m.3pid_changes":    map[string]bool{"enabled": s.mailer != nil},
		"m.get_login_token": map[string]bool{"enabled": false},
	}
	// Left out for everyone who may do neither.
	if dev.IsAdmin {
		caps["m.account_moderation"] = map[string]bool{"suspend": true, "lock": true}
	}
	if s.delayed != nil && s.delayed.Enabled() {
		maxDelay, maxPerUser := s.delayed.Limits()
		caps["org.matrix.msc4140.delayed_events"] = map[string]int64{"max_delay_ms": maxDelay.Milliseconds(), "max_scheduled": int64(maxPerUser)}
	}
	return map[string]any{"capabilities": caps}, nil
}

// wellKnownSupport is GET /.well-known/matrix/support: the configured
// administrator contacts and support page, 404 when there are none.
func (s *Server) wellKnownSupport(r *http.Request) (any, error) {
	if !s.cfg.WellKnown.Support.Configured() {
		return nil, mxhttp.NotFound("This server announces no support contacts")
	}
	return s.cfg.WellKnown.Support, nil
}

// wellKnownServer is GET /.well-known/matrix/server.
func (s *Server) wellKnownServer(r *http.Request) (any, error) {
	server := s.cfg.WellKnown.Server
	if server == "" {
		server = string(s.cfg.ServerName)
	}
	return map[string]string{"m.server": server}, nil
}

// profileFieldsCapability says which profile fields the user may change:
// all of them, for a guest only the display name, and never those the
// server switched off.
func (s *Server) profileFieldsCapability(dev *userapi.Device) map[string]any {
	var disallowed []string
	if !s.cfg.EnableSetDisplayName {
		disallowed = append(disallowed, fieldDisplayName)
	}
	if !s.cfg.EnableSetAvatarURL {
		disallowed = append(disallowed, fieldAvatarURL)
	}
	if dev.IsGuest {
		if !s.cfg.EnableSetDisplayName {
			return map[string]any{"enabled": false}
		}
		return map[string]any{"enabled": true, "allowed": []string{fieldDisplayName}}
	}
	if len(disallowed) > 0 {
		return map[string]any{"enabled": true, "disallowed": disallowed}
	}
	return map[string]any{"enabled": true}
}
