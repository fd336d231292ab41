package clientapi

import (
	"net/http"
	"strings"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/userapi"
)

// The keys of /.well-known/matrix/client beyond m.homeserver, which the
// BundesMessenger chart's well-known sidecar served.
const (
	wellKnownBWI        = "de.bwi"
	wellKnownE2EE       = "io.element.e2ee"
	wellKnownTiles      = "m.tile_server"
	wellKnownRTCFoci    = "org.matrix.msc4143.rtc_foci"
	mapStylePath        = "/_matrix/cconfig/style.json"
	wellKnownHomeserver = "m.homeserver"
)

// bwiLinks are the pages the BundesMessenger apps show in their settings.
type bwiLinks struct {
	DataPrivacyURL string `json:"data_privacy_url,omitempty"`
	ImprintURL     string `json:"imprint_url,omitempty"`
}

// wellKnownClient is GET /.well-known/matrix/client: the homeserver's
// URL, and what the config adds for the apps: the privacy and imprint
// pages, the key backup policy, the map style, the call transports, and
// any further keys well_known.client_extra names (which win over the
// derived ones, except m.homeserver).
func (s *Server) wellKnownClient(r *http.Request) (any, error) {
	base := s.cfg.WellKnown.ClientBaseURL
	if base == "" {
		base = s.cfg.PublicBaseURL
	}
	out := map[string]any{}
	bm := s.cfg.BundesMessenger
	if bm.DataPrivacyURL != "" || bm.ImprintURL != "" {
		out[wellKnownBWI] = bwiLinks{DataPrivacyURL: bm.DataPrivacyURL, ImprintURL: bm.ImprintURL}
	}
	if e := s.cfg.WellKnown.E2EE; e != nil {
		out[wellKnownE2EE] = e
	}
	if style := mapStyleURL(s.cfg, base); style != "" {
		out[wellKnownTiles] = map[string]string{"map_style_url": style}
	}
	if t := s.cfg.MatrixRTC.Transports; len(t) > 0 {
		out[wellKnownRTCFoci] = t
	}
	for k, v := range s.cfg.WellKnown.ClientExtra {
		out[k] = v
	}
	out[wellKnownHomeserver] = map[string]string{"base_url": base}
	return out, nil
}

// mapStyleURL is the configured map style URL, or the served
// map_style_file's URL on this server.
func mapStyleURL(cfg *config.Config, base string) string {
	if u := cfg.WellKnown.MapStyleURL; u != "" {
		return u
	}
	if cfg.BundesMessenger.MapStyleFile == "" {
		return ""
	}
	return strings.TrimSuffix(base, "/") + mapStylePath
}

// rtcTransports is GET /_matrix/client/unstable/org.matrix.msc4143/rtc/transports:
// the MatrixRTC transports (LiveKit behind lk-jwt-service) from
// matrix_rtc.transports, the same list well-known announces as
// rtc_foci. Clients that find none fall back to well-known.
func (s *Server) rtcTransports(r *http.Request, _ *userapi.Device) (any, error) {
	t := s.cfg.MatrixRTC.Transports
	if t == nil {
		t = []config.RTCTransport{}
	}
	return map[string]any{"rtc_transports": t}, nil
}
