package clientapi

import (
	"context"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"slices"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// User-interactive auth with m.login.sso: a user without a password (or
// one linked to a provider) confirms a sensitive action by logging in at
// the provider again. The client opens the spec's fallback page for the
// session; the login's callback completes the stage when the provider
// names the session's own user; the client then retries with the session.

const stageSSO = "m.login.sso"

// ssoFallbackPath is the spec's fallback page for m.login.sso.
const ssoFallbackPath = "/auth/" + stageSSO + "/fallback/web"

// reauthFlows are the ways user may confirm a sensitive action: the
// password while the account has one and password_config allows it, and
// single sign-on when a provider is configured and the user has no usable
// password or is linked to a provider.
func (s *Server) reauthFlows(ctx context.Context, user spec.UserID) [][]string {
	password := s.cfg.PasswordConfig.PasswordReauth()
	if password {
		if acc, err := s.users.Account(ctx, user); err == nil && !acc.HasPassword {
			password = false
		}
	}
	sso := false
	if len(s.cfg.OIDCProviders) > 0 {
		sso = !password
		if !sso {
			ids, err := s.users.ExternalIDs(ctx, user)
			sso = err == nil && len(ids) > 0
		}
	}
	var flows [][]string
	if password {
		flows = append(flows, []string{stagePassword})
	}
	if sso {
		flows = append(flows, []string{stageSSO})
	}
	if len(flows) == 0 {
		// No way to confirm: the password stage, which then fails.
		flows = append(flows, []string{stagePassword})
	}
	return flows
}

// ssoFallback is GET /auth/m.login.sso/fallback/web?session=…: a page
// with a link per provider the user can confirm with; with idp=…, the
// login at that provider for the session.
func (s *Server) ssoFallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sess, err := s.uia.load(r.Context(), q.Get("session"))
	if err != nil || sess.User == "" {
		writeSSOPage(w, http.StatusBadRequest, "Unknown session", "<p>This confirmation link is invalid or has expired. Start again from your Matrix client.</p>")
		return
	}
	if idp := q.Get("idp"); idp != "" {
		s.startOIDCLogin(w, r, idp, &oidcSession{UIASession: sess.ID})
		return
	}
	idps := s.reauthProviders(r.Context(), sess.User)
	if len(idps) == 0 {
		writeSSOPage(w, http.StatusBadRequest, "No single sign-on", "<p>This server has no identity provider to confirm your identity with.</p>")
		return
	}
	body := "<p>Confirm your identity to continue in your Matrix client.</p><ul>"
	for _, idp := range idps {
		link := "?session=" + url.QueryEscape(sess.ID) + "&idp=" + url.QueryEscape(idp.ID)
		body += `<li><a href="` + html.EscapeString(link) + `">Continue with ` + html.EscapeString(idp.Name) + `</a></li>`
	}
	writeSSOPage(w, http.StatusOK, "Confirm your identity", body+"</ul>")
}

// reauthProviders are the OIDC providers the user is linked to, or all
// when they are linked to none.
func (s *Server) reauthProviders(ctx context.Context, userID string) []identityProvider {
	var all, linked []identityProvider
	var ids []string
	if user, err := spec.NewUserID(userID, true); err == nil {
		if links, err := s.users.ExternalIDs(ctx, *user); err == nil {
			for _, l := range links {
				ids = append(ids, l.AuthProvider)
			}
		}
	}
	for _, p := range s.cfg.OIDCProviders {
		idp := identityProvider{ID: p.ID(), Name: p.Name()}
		all = append(all, idp)
		if slices.Contains(ids, p.ID()) {
			linked = append(linked, idp)
		}
	}
	if len(linked) > 0 {
		return linked
	}
	return all
}

// finishSSOReauth completes m.login.sso for the session if the provider
// named the session's user.
func (s *Server) finishSSOReauth(w http.ResponseWriter, r *http.Request, sessionID string, user spec.UserID) {
	sess, err := s.uia.load(r.Context(), sessionID)
	if err != nil {
		writeSSOPage(w, http.StatusBadRequest, "Unknown session", "<p>The confirmation took too long. Start again from your Matrix client.</p>")
		return
	}
	if sess.User != user.String() {
		ssoErrorPage(w, http.StatusForbidden, "You logged in at the identity provider as a different user than the one to confirm.")
		return
	}
	err = s.uia.update(r.Context(), sess, func(x *uiaSession) {
		if !slices.Contains(x.Completed, stageSSO) {
			x.Completed = append(x.Completed, stageSSO)
		}
	})
	if err != nil {
		slog.Error("sso: complete uia stage", "err", err)
		ssoErrorPage(w, http.StatusInternalServerError, "The confirmation could not be recorded.")
		return
	}
	// The spec's fallback ends by telling the client, which may have
	// opened the page in a frame or a window.
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>Confirmed</title><script>
if (window.onAuthDone) { window.onAuthDone(); } else if (window.opener && window.opener.postMessage) { window.opener.postMessage("authDone", "*"); }
</script></head><body><p>Thank you. You may now close this window and return to your Matrix client.</p></body></html>`))
}
