package clientapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/rohrpost/rohrpost/internal/oidcrp"
	"github.com/rohrpost/rohrpost/userapi"
)

// oidcLogoutPath is Synapse's back-channel logout URI, which providers
// are configured with ("Backchannel logout URL" in Keycloak).
const oidcLogoutPath = "/_synapse/client/oidc/backchannel_logout"

// oidcBackchannelLogout is POST /_synapse/client/oidc/backchannel_logout
// (OpenID Connect Back-Channel Logout 1.0): the provider says a session
// of its user ended; the devices that logged in through that session
// (sid), or all of the user's through the provider when the token names
// only the subject, are logged out. The token is verified with the keys
// of each provider that has backchannel_logout_enabled; one of them must
// have signed it for its client.
func (s *Server) oidcBackchannelLogout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil || r.PostForm.Get("logout_token") == "" {
		logoutError(w, http.StatusBadRequest, "invalid_request", "logout_token is required")
		return
	}
	raw := r.PostForm.Get("logout_token")
	var lastErr error
	for _, cfg := range s.cfg.OIDCProviders {
		if !cfg.BackchannelLogoutEnabled {
			continue
		}
		p, err := s.oidcProvider(cfg.ID())
		if err != nil {
			lastErr = err
			continue
		}
		token, err := p.VerifyLogout(r.Context(), raw)
		if err != nil {
			lastErr = err
			continue
		}
		n, err := s.endOIDCSession(r, p, token.Subject, token.SessionID)
		if err != nil {
			slog.Error("oidc: back-channel logout", "idp", p.ID(), "err", err)
			logoutError(w, http.StatusInternalServerError, "server_error", "the sessions could not be ended")
			return
		}
		slog.Info("oidc: back-channel logout", "idp", p.ID(), "sid", token.SessionID, "devices", n)
		w.WriteHeader(http.StatusOK)
		return
	}
	if lastErr == nil {
		logoutError(w, http.StatusBadRequest, "invalid_request", "no identity provider has back-channel logout enabled")
		return
	}
	slog.Info("oidc: back-channel logout refused", "err", lastErr)
	logoutError(w, http.StatusBadRequest, "invalid_request", "the logout token was not accepted")
}

// endOIDCSession logs out what the logout token names.
func (s *Server) endOIDCSession(r *http.Request, p *oidcrp.Provider, subject, sid string) (int, error) {
	user := ""
	if subject != "" {
		u, err := s.users.ExternalIDUser(r.Context(), p.ID(), subject)
		if errors.Is(err, userapi.ErrNotFound) {
			return 0, nil // nobody of ours
		}
		if err != nil {
			return 0, err
		}
		user = u.String()
	}
	return s.users.LogoutSSOSessions(r.Context(), p.ID(), sid, user)
}

func logoutError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}
