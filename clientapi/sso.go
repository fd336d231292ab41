package clientapi

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi/storage"
)

// Single sign-on's parts that CAS and OIDC share: the identity providers
// GET /login announces, the redirect endpoints, and the last step, which
// hands the browser back to the client with a login token.

// casIDP is the identity provider id of CAS, as in Synapse.
const casIDP = "cas"

// identityProvider is one entry of m.login.sso's identity_providers.
type identityProvider struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Icon  string `json:"icon,omitempty"`
	Brand string `json:"brand,omitempty"`
}

// ssoEnabled tells whether any single sign-on is configured.
func (s *Server) ssoEnabled() bool {
	return s.cfg.CAS.Enabled || len(s.cfg.OIDCProviders) > 0
}

func (s *Server) identityProviders() []identityProvider {
	var out []identityProvider
	if s.cfg.CAS.Enabled {
		out = append(out, identityProvider{ID: casIDP, Name: "CAS"})
	}
	for _, p := range s.cfg.OIDCProviders {
		out = append(out, identityProvider{ID: p.ID(), Name: p.Name(), Icon: p.IDPIcon, Brand: p.IDPBrand})
	}
	return out
}

// ssoRedirectAny is GET /login/sso/redirect: the one provider there is,
// or a page to choose one.
func (s *Server) ssoRedirectAny(w http.ResponseWriter, r *http.Request) {
	idps := s.identityProviders()
	switch {
	case len(idps) == 0:
		mxhttp.WriteError(w, r, mxhttp.Unrecognized(http.StatusNotFound))
	case len(idps) == 1 && idps[0].ID == casIDP:
		s.ssoRedirect(w, r)
	case len(idps) == 1:
		s.oidcRedirect(w, r, idps[0].ID)
	default:
		s.ssoPicker(w, r, idps)
	}
}

// ssoRedirectIDP is GET /login/sso/redirect/{idpId}.
func (s *Server) ssoRedirectIDP(w http.ResponseWriter, r *http.Request) {
	idp := mux.Vars(r)["idpId"]
	if idp == casIDP && s.cfg.CAS.Enabled {
		s.ssoRedirect(w, r)
		return
	}
	s.oidcRedirect(w, r, idp)
}

// ssoPicker lists the providers, each a link to its redirect.
func (s *Server) ssoPicker(w http.ResponseWriter, r *http.Request, idps []identityProvider) {
	redirectURL := r.URL.Query().Get("redirectUrl")
	if err := checkClientRedirect(redirectURL); err != nil {
		mxhttp.WriteError(w, r, err)
		return
	}
	var b strings.Builder
	for _, idp := range idps {
		link := "redirect/" + url.PathEscape(idp.ID) + "?redirectUrl=" + url.QueryEscape(redirectURL)
		fmt.Fprintf(&b, `<li><a href="%s">%s</a></li>`, html.EscapeString(link), html.EscapeString(idp.Name))
	}
	writeSSOPage(w, http.StatusOK, "Choose how to log in", "<ul>"+b.String()+"</ul>")
}

// checkClientRedirect refuses a redirectUrl the browser must not be sent
// to: a missing or relative one, or one that runs script. Custom schemes
// stay allowed, as mobile clients use them.
func checkClientRedirect(raw string) error {
	if raw == "" {
		return mxhttp.MissingParam("redirectUrl is required")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return mxhttp.InvalidParam("redirectUrl must be an absolute URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "javascript", "data", "vbscript", "file":
		return mxhttp.InvalidParam("redirectUrl may not use the " + u.Scheme + " scheme")
	}
	if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
		return mxhttp.InvalidParam("redirectUrl must name a host")
	}
	return nil
}

// finishSSOLogin gives user a single-use login token and shows the
// browser the way back to the client with it (loginToken), as the spec's
// SSO flow ends. origin is the provider session the login came from.
// With confirm, the page only offers the link, naming where it leads
// (sso.client_whitelist decides); otherwise it also follows it at once.
func (s *Server) finishSSOLogin(ctx context.Context, w http.ResponseWriter, user spec.UserID, back *url.URL, origin storage.AuthOrigin, confirm bool) error {
	token, err := s.users.CreateSSOLoginToken(ctx, user, origin)
	if err != nil {
		return err
	}
	v := back.Query()
	v.Set("loginToken", token)
	back.RawQuery = v.Encode()
	link := html.EscapeString(back.String())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if confirm {
		where := back.Host
		if where == "" {
			where = back.Scheme + ":"
		}
		_, _ = fmt.Fprintf(w, `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Continue to your client?</title></head><body>`+
			`<p>You are logged in as %s.</p><p>Continue only if you started this login in the application at <strong>%s</strong>: `+
			`it gets access to your account.</p><p><a href="%s">Continue to %s</a></p></body></html>`,
			html.EscapeString(user.String()), html.EscapeString(where), link, html.EscapeString(where))
		return nil
	}
	_, _ = fmt.Fprintf(w, `<!DOCTYPE html><html><head><meta http-equiv="refresh" content="0;url=%s"><title>Login</title></head>`+
		`<body><p><a href="%s">Continue to your Matrix client</a></p></body></html>`, link, link)
	return nil
}

// writeSSOPage answers a browser: the SSO endpoints are visited by people,
// not called by clients, so errors are pages that say what happened.
// body is HTML; title is text.
func writeSSOPage(w http.ResponseWriter, status int, title, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	t := html.EscapeString(title)
	_, _ = fmt.Fprintf(w, `<!DOCTYPE html><html><head><meta charset="utf-8"><title>%s</title></head><body><h1>%s</h1>%s</body></html>`, t, t, body)
}

// ssoErrorPage is writeSSOPage for a failed login; msg is text.
func ssoErrorPage(w http.ResponseWriter, status int, msg string) {
	writeSSOPage(w, status, "Login failed", "<p>"+html.EscapeString(msg)+"</p><p>Start the login again from your Matrix client.</p>")
}
