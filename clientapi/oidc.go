package clientapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"golang.org/x/oauth2"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/oidcrp"
	"github.com/rohrpost/rohrpost/userapi"
	"github.com/rohrpost/rohrpost/userapi/storage"
)

// Login through OpenID Connect providers (docs/sso.md): the client sends
// the browser to /login/sso/redirect/{idpId}; the server sends it on to
// the provider with a state, a nonce and a PKCE challenge it keeps
// (oidc_sessions.go); the provider sends it back to the callback, whose
// path is Synapse's so that providers' client settings need no change;
// the server exchanges the code, verifies the ID token, maps the claims
// to an account (userapi.SSOUser) and ends like CAS, with a login token.

// oidcCallbackPath is where providers send the browser back to.
const oidcCallbackPath = "/_synapse/client/oidc/callback"

// oidcProviders are the configured providers, made on first use.
type oidcProviders struct {
	once sync.Once
	byID map[string]*oidcrp.Provider
	err  error
}

func (s *Server) oidcProvider(id string) (*oidcrp.Provider, error) {
	s.oidc.once.Do(func() {
		client, err := s.outboundClient()
		if err != nil {
			s.oidc.err = err
			return
		}
		s.oidc.byID = map[string]*oidcrp.Provider{}
		for _, cfg := range s.cfg.OIDCProviders {
			p, err := oidcrp.New(cfg, client)
			if err != nil {
				s.oidc.err = err
				return
			}
			s.oidc.byID[p.ID()] = p
		}
	})
	if s.oidc.err != nil {
		return nil, s.oidc.err
	}
	p, ok := s.oidc.byID[id]
	if !ok {
		return nil, mxhttp.NotFound("Unknown identity provider " + id)
	}
	return p, nil
}

func (s *Server) oidcCallbackURL() string {
	return strings.TrimSuffix(s.cfg.PublicBaseURL, "/") + oidcCallbackPath
}

// oidcRedirect starts a login at provider idp for the client's
// redirectUrl.
func (s *Server) oidcRedirect(w http.ResponseWriter, r *http.Request, idp string) {
	redirectURL := r.URL.Query().Get("redirectUrl")
	if err := checkClientRedirect(redirectURL); err != nil {
		mxhttp.WriteError(w, r, err)
		return
	}
	s.startOIDCLogin(w, r, idp, &oidcSession{ClientRedirect: redirectURL})
}

// startOIDCLogin stores sess and sends the browser to the provider.
func (s *Server) startOIDCLogin(w http.ResponseWriter, r *http.Request, idp string, sess *oidcSession) {
	p, err := s.oidcProvider(idp)
	if err != nil {
		mxhttp.WriteError(w, r, err)
		return
	}
	sess.IDP, sess.Callback, sess.Verifier = p.ID(), s.oidcCallbackURL(), oauth2.GenerateVerifier()
	if sess.Nonce, err = randomToken(); err != nil {
		mxhttp.WriteError(w, r, err)
		return
	}
	state, cookie, err := s.startOIDCSession(r.Context(), sess)
	if err != nil {
		mxhttp.WriteError(w, r, err)
		return
	}
	target, err := p.AuthCodeURL(r.Context(), state, sess.Nonce, sess.Verifier, sess.Callback)
	if err != nil {
		slog.Warn("oidc: provider unavailable", "idp", p.ID(), "err", err)
		ssoErrorPage(w, http.StatusBadGateway, "The identity provider cannot be reached at the moment.")
		return
	}
	s.setOIDCCookie(w, cookie, int(oidcSessionLifetime.Seconds()))
	http.Redirect(w, r, target, http.StatusFound)
}

// oidcCallback is GET /_synapse/client/oidc/callback. Every failure is a
// page for the person in the browser, and none of them logs anyone in.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	cookie := ""
	if c, err := r.Cookie(oidcCookie); err == nil {
		cookie = c.Value
	}
	sess, err := s.takeOIDCSession(ctx, q.Get("state"), cookie)
	switch {
	case errors.Is(err, errOIDCUnknownState):
		ssoErrorPage(w, http.StatusBadRequest, "This login link is invalid, has expired or was used already.")
		return
	case errors.Is(err, errOIDCCookieMissing):
		ssoErrorPage(w, http.StatusBadRequest, "This login was not started in this browser (its session cookie is missing).")
		return
	case err != nil:
		slog.Error("oidc: callback session", "err", err)
		ssoErrorPage(w, http.StatusInternalServerError, "The login could not be completed.")
		return
	}
	s.setOIDCCookie(w, "", -1)
	if e := q.Get("error"); e != "" {
		ssoErrorPage(w, http.StatusForbidden, "The identity provider did not log you in: "+e+" "+q.Get("error_description"))
		return
	}
	p, err := s.oidcProvider(sess.IDP)
	if err != nil || q.Get("code") == "" {
		ssoErrorPage(w, http.StatusBadRequest, "The identity provider's answer is incomplete.")
		return
	}
	id, err := p.Exchange(ctx, q.Get("code"), sess.Verifier, sess.Nonce, sess.Callback)
	if err == nil {
		err = p.CheckRequirements(id.Claims)
	}
	var user spec.UserID
	if err == nil {
		user, err = s.oidcUser(ctx, p, id)
	}
	if err != nil {
		status, msg := oidcFailure(err)
		slog.Info("oidc: login refused", "idp", p.ID(), "err", err)
		ssoErrorPage(w, status, msg)
		return
	}
	if sess.UIASession != "" {
		s.finishSSOReauth(w, r, sess.UIASession, user)
		return
	}
	back, err := url.Parse(sess.ClientRedirect)
	if err == nil {
		trusted := s.cfg.SSOClients.TrustedClient(sess.ClientRedirect)
		err = s.finishSSOLogin(ctx, w, user, back, storage.AuthOrigin{Provider: p.ID(), Session: id.SessionID}, !trusted)
	}
	if err != nil {
		slog.Error("oidc: login token", "err", err)
		ssoErrorPage(w, http.StatusInternalServerError, "The login could not be completed.")
	}
}

// oidcUser is the account of the provider's user: linked already, or
// linked or made now as the provider's settings allow.
func (s *Server) oidcUser(ctx context.Context, p *oidcrp.Provider, id *oidcrp.Identity) (spec.UserID, error) {
	if linked, err := s.users.ExternalIDUser(ctx, p.ID(), id.Subject); err == nil {
		return linked, s.activeSSOAccount(ctx, linked)
	} else if !errors.Is(err, userapi.ErrNotFound) {
		return spec.UserID{}, err
	}
	m, err := p.Map(id.Claims)
	if err != nil {
		return spec.UserID{}, err
	}
	user, err := spec.NewUserID("@"+m.Localpart+":"+string(s.cfg.ServerName), true)
	if err != nil {
		return spec.UserID{}, fmt.Errorf("%w: %q is not a valid localpart", oidcrp.ErrMapping, m.Localpart)
	}
	cfg := p.Config()
	return s.users.SSOUser(ctx, userapi.SSOUserRequest{
		AuthProvider: p.ID(), ExternalID: id.Subject, User: *user, DisplayName: m.DisplayName, Email: m.Email,
		Register: cfg.RegistrationEnabled(), LinkExisting: cfg.AllowExistingUsers,
	})
}

func (s *Server) activeSSOAccount(ctx context.Context, user spec.UserID) error {
	acc, err := s.users.Account(ctx, user)
	if err != nil {
		return err
	}
	if acc.Deactivated {
		return userapi.ErrDeactivated
	}
	return nil
}

// oidcFailure is the status and message of a refused login.
func oidcFailure(err error) (int, string) {
	switch {
	case errors.Is(err, oidcrp.ErrRequirement):
		return http.StatusForbidden, "Your account at the identity provider lacks an attribute this server requires (" +
			strings.TrimPrefix(err.Error(), oidcrp.ErrRequirement.Error()+": ") + "). Ask your administrator."
	case errors.Is(err, userapi.ErrSSORegistrationDisabled):
		return http.StatusForbidden, "There is no Matrix account for you on this server, and this identity provider may not create one. Ask your administrator."
	case errors.Is(err, userapi.ErrUserInUse):
		return http.StatusForbidden, "A Matrix account of your name exists already and is not linked to this identity provider. Ask your administrator."
	case errors.Is(err, userapi.ErrDeactivated):
		return http.StatusForbidden, "Your Matrix account has been deactivated."
	case errors.Is(err, oidcrp.ErrMapping), errors.Is(err, userapi.ErrInvalidUsername):
		return http.StatusForbidden, "Your account at the identity provider does not give a usable Matrix user name. Ask your administrator."
	case errors.Is(err, oidcrp.ErrRejected):
		return http.StatusForbidden, "The identity provider's answer could not be verified (an expired or used code, or a token that failed its checks)."
	case errors.Is(err, oidcrp.ErrUnavailable):
		return http.StatusBadGateway, "The identity provider cannot be reached at the moment."
	}
	return http.StatusInternalServerError, "The login could not be completed."
}
