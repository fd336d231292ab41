package clientapi

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
	"github.com/rohrpost/rohrpost/userapi/storage"
)

// Single sign-on through CAS: the client is sent to the CAS server, which
// sends the browser back to /login/cas/ticket with a ticket; the server
// validates the ticket with CAS, creates the account on first login, and
// hands the client a single-use login token for POST /login
// (m.login.token).

// casServiceURL is where CAS sends the browser back to.
func (s *Server) casServiceURL(redirectURL string) string {
	return strings.TrimSuffix(s.cfg.PublicBaseURL, "/") + "/_matrix/client/r0/login/cas/ticket?redirectUrl=" + url.QueryEscape(redirectURL)
}

// ssoRedirect is GET /login/sso/redirect (and the older /login/cas/redirect).
func (s *Server) ssoRedirect(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.CAS.Enabled {
		mxhttp.WriteError(w, r, mxhttp.Unrecognized(http.StatusNotFound))
		return
	}
	redirectURL := r.URL.Query().Get("redirectUrl")
	if redirectURL == "" {
		mxhttp.WriteError(w, r, mxhttp.MissingParam("redirectUrl is required"))
		return
	}
	target := strings.TrimSuffix(s.cfg.CAS.ServerURL, "/") + "/login?service=" + url.QueryEscape(s.casServiceURL(redirectURL))
	http.Redirect(w, r, target, http.StatusFound)
}

// casTicket is GET /login/cas/ticket: validate the ticket, then show the
// browser the way back to the client with a login token.
func (s *Server) casTicket(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirectURL, ticket := q.Get("redirectUrl"), q.Get("ticket")
	if !s.cfg.CAS.Enabled {
		mxhttp.WriteError(w, r, mxhttp.Unrecognized(http.StatusNotFound))
		return
	}
	if redirectURL == "" || ticket == "" {
		mxhttp.WriteError(w, r, mxhttp.MissingParam("redirectUrl and ticket are required"))
		return
	}
	back, err := url.Parse(redirectURL)
	if err != nil || (back.Scheme != "https" && back.Scheme != "http") {
		mxhttp.WriteError(w, r, mxhttp.InvalidParam("redirectUrl must be an http(s) URL"))
		return
	}
	casUser, err := s.validateCASTicket(r.Context(), ticket, s.casServiceURL(redirectURL))
	if err != nil {
		mxhttp.WriteError(w, r, mxhttp.Forbidden("CAS did not accept the ticket: "+err.Error()))
		return
	}
	user, err := s.ssoUser(r.Context(), casUser)
	if err != nil {
		mxhttp.WriteError(w, r, err)
		return
	}
	// CAS sends the browser on at once, as it always did: sso.client_whitelist
	// and the confirmation page are OIDC's (docs/sso.md).
	if err := s.finishSSOLogin(r.Context(), w, user, back, storage.AuthOrigin{}, false); err != nil {
		mxhttp.WriteError(w, r, err)
	}
}

// casResponse is the part of CAS's serviceValidate XML we read.
type casResponse struct {
	Success *struct {
		User string `xml:"user"`
	} `xml:"authenticationSuccess"`
	Failure *struct {
		Code string `xml:"code,attr"`
	} `xml:"authenticationFailure"`
}

var errCASRejected = errors.New("ticket rejected")

func (s *Server) validateCASTicket(ctx context.Context, ticket, service string) (string, error) {
	u := strings.TrimSuffix(s.cfg.CAS.ServerURL, "/") + "/proxyValidate?ticket=" + url.QueryEscape(ticket) + "&service=" + url.QueryEscape(service)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	client, err := s.outboundClient()
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	var cr casResponse
	if err := xml.Unmarshal(body, &cr); err != nil {
		return "", fmt.Errorf("unreadable CAS response: %w", err)
	}
	if cr.Success == nil || strings.TrimSpace(cr.Success.User) == "" {
		return "", errCASRejected
	}
	return strings.TrimSpace(cr.Success.User), nil
}

// outboundClient is an HTTP client that follows the tls_client settings.
func (s *Server) outboundClient() (*http.Client, error) {
	tlsCfg, err := s.cfg.TLSClient.TLS()
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}, nil
}

// ssoUser maps a single sign-on name to a local user, creating the account
// on first login. Characters a localpart may not hold are written "=xx".
func (s *Server) ssoUser(ctx context.Context, name string) (spec.UserID, error) {
	localpart := mapToLocalpart(name)
	user, err := spec.NewUserID("@"+localpart+":"+string(s.cfg.ServerName), true)
	if err != nil {
		return spec.UserID{}, mxhttp.Forbidden("the single sign-on name cannot be a Matrix user id")
	}
	if _, err := s.users.Account(ctx, *user); err == nil {
		return *user, nil
	} else if !errors.Is(err, userapi.ErrNotFound) {
		return spec.UserID{}, err
	}
	if _, err := s.users.Register(ctx, userapi.RegisterRequest{User: *user, NoDevice: true, DisplayName: name}); err != nil && !errors.Is(err, userapi.ErrUserInUse) {
		return spec.UserID{}, userError(err)
	}
	return *user, nil
}

// mapToLocalpart lower-cases a name and escapes what a localpart may not
// contain as "=" and two hex digits.
func mapToLocalpart(name string) string {
	var b strings.Builder
	for _, c := range []byte(strings.ToLower(name)) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '-', c == '/':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02x", c)
		}
	}
	return b.String()
}
