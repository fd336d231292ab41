package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/rohrpost/rohrpost/internal/testoidc"
)

// Login through OpenID Connect, end to end: each test runs real OIDC
// providers (internal/testoidc) over HTTP and walks a browser through
// redirect → provider → callback, then logs in with the login token.

const clientRedirect = "https://client.example/after-login?x=1"

func oidcProvider(idpID string, p *testoidc.Provider) config.OIDCProvider {
	return config.OIDCProvider{
		IDPID: idpID, IDPName: "Agency " + idpID, IDPBrand: "org.example." + idpID, IDPIcon: "mxc://example.org/" + idpID,
		Issuer: p.URL, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
		Scopes:                   []string{"openid", "profile", "email"},
		BackchannelLogoutEnabled: true,
		UserMappingProvider: config.UserMappingProvider{Config: config.MappingConfig{
			LocalpartTemplate:   "{{ user.preferred_username | lower }}",
			DisplayNameTemplate: "{{ user.given_name }} {{ user.family_name }}",
			EmailTemplate:       "{{ user.email }}",
		}},
	}
}

// browser is a user agent: it keeps cookies and follows redirects.
func oidcBrowser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

func oidcGet(t *testing.T, c *http.Client, u string) (int, string, *http.Response) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp
}

var loginTokenRE = regexp.MustCompile(`loginToken=([^"&]+)`)

// ssoLogin walks a browser through a login at idp and returns the final
// page's status and body; ssoLoginToken the login token it hands out.
func ssoLogin(t *testing.T, srv *apptest.Server, idp string) (int, string) {
	t.Helper()
	status, body, _ := oidcGet(t, oidcBrowser(t), srv.URL+"/_matrix/client/v3/login/sso/redirect/"+idp+"?redirectUrl="+url.QueryEscape(clientRedirect))
	return status, body
}

// callbackURL follows the browser up to the provider's redirect back to
// the server and returns that URL, not yet visited.
func callbackURL(t *testing.T, c *http.Client, srv *apptest.Server, idp string) string {
	t.Helper()
	var callback string
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if strings.HasSuffix(req.URL.Path, "/_synapse/client/oidc/callback") {
			callback = req.URL.String()
			return http.ErrUseLastResponse
		}
		return nil
	}
	defer func() { c.CheckRedirect = nil }()
	status, body, _ := oidcGet(t, c, srv.URL+"/_matrix/client/v3/login/sso/redirect/"+idp+"?redirectUrl="+url.QueryEscape(clientRedirect))
	if callback == "" {
		t.Fatalf("no redirect to the callback: %d %s", status, body)
	}
	return callback
}

func ssoLoginToken(t *testing.T, srv *apptest.Server, idp string) string {
	t.Helper()
	status, body := ssoLogin(t, srv, idp)
	return loginToken(t, status, body)
}

func loginToken(t *testing.T, status int, body string) string {
	t.Helper()
	m := loginTokenRE.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		t.Fatalf("no login token: %d %s", status, body)
	}
	if !strings.Contains(body, "https://client.example/after-login?") {
		t.Fatalf("the page does not lead back to the client: %s", body)
	}
	tok, _ := url.QueryUnescape(m[1])
	return tok
}

func oidcPostJSON(t *testing.T, u, token string, body any) (int, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return oidcDoJSON(t, req)
}

func oidcDoJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// tokenLogin spends a login token and returns the access token and user.
func oidcTokenLogin(t *testing.T, srv *apptest.Server, loginToken string) (string, string) {
	t.Helper()
	status, out := oidcPostJSON(t, srv.URL+"/_matrix/client/v3/login", "", map[string]string{"type": "m.login.token", "token": loginToken})
	if status != http.StatusOK {
		t.Fatalf("m.login.token: %d %v", status, out)
	}
	return out["access_token"].(string), out["user_id"].(string)
}

func oidcWhoami(t *testing.T, srv *apptest.Server, accessToken string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/_matrix/client/v3/account/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	status, out := oidcDoJSON(t, req)
	user, _ := out["user_id"].(string)
	return status, user
}

func idpUser(sub, name string, extra ...string) map[string]any {
	claims := map[string]any{"sub": sub, "preferred_username": name, "given_name": "Erika", "family_name": "Muster", "email": name + "@agency.example"}
	for i := 0; i+1 < len(extra); i += 2 {
		claims[extra[i]] = extra[i+1]
	}
	return claims
}

// startSSOServer runs a homeserver with two providers: kc, which needs
// the claim staff=yes and creates accounts, and second, which may not
// create accounts but links existing ones.
func startSSOServer(t *testing.T) (*apptest.Server, *testoidc.Provider, *testoidc.Provider) {
	kc := testoidc.Start(t, "rohrpost", "kc-secret")
	second := testoidc.Start(t, "rohrpost-2", "second-secret")
	cfg := apptest.Config(t.TempDir())
	a := oidcProvider("kc", kc)
	staff := "yes"
	a.AttributeRequirements = []config.AttributeRequirement{{Attribute: "staff", Value: &staff}}
	b := oidcProvider("second", second)
	b.ClientAuthMethod = "client_secret_post"
	no := false
	b.EnableRegistration, b.AllowExistingUsers = &no, true
	b.UserProfileMethod = "userinfo_endpoint"
	cfg.OIDCProviders = []config.OIDCProvider{a, b}
	srv := apptest.StartWith(t, cfg)
	cfg.PublicBaseURL = srv.URL
	return srv, kc, second
}

func TestOIDCLoginEndToEnd(t *testing.T) {
	t.Parallel()
	srv, kc, second := startSSOServer(t)

	t.Run("login flows list both providers", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/_matrix/client/v3/login", nil)
		status, out := oidcDoJSON(t, req)
		raw, _ := json.Marshal(out["flows"])
		for _, want := range []string{`"type":"m.login.password"`, `"type":"m.login.token"`,
			`{"identity_providers":[{"brand":"org.example.kc","icon":"mxc://example.org/kc","id":"oidc-kc","name":"Agency kc"},` +
				`{"brand":"org.example.second","icon":"mxc://example.org/second","id":"oidc-second","name":"Agency second"}],"type":"m.login.sso"}`} {
			if status != http.StatusOK || !strings.Contains(string(raw), want) {
				t.Fatalf("flows %d %s: missing %s", status, raw, want)
			}
		}
	})

	var erikaToken string
	t.Run("redirect, provider, callback, token login, whoami", func(t *testing.T) {
		kc.SetUser(idpUser("kc-sub-1", "Erika", "staff", "yes"))
		status, page := ssoLogin(t, srv, "oidc-kc")
		// client.example is not in sso.client_whitelist: the page names it
		// and waits for the user's click.
		if !strings.Contains(page, "Continue only if you started this login in the application at <strong>client.example</strong>") ||
			strings.Contains(page, "http-equiv") {
			t.Fatalf("confirmation page: %s", page)
		}
		access, userID := oidcTokenLogin(t, srv, loginToken(t, status, page))
		if userID != "@erika:localhost" {
			t.Fatalf("user %s", userID)
		}
		if status, who := oidcWhoami(t, srv, access); status != http.StatusOK || who != "@erika:localhost" {
			t.Fatalf("whoami %d %s", status, who)
		}
		erikaToken = access
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/_matrix/client/v3/profile/@erika:localhost", nil)
		if status, p := oidcDoJSON(t, req); status != http.StatusOK || p["displayname"] != "Erika Muster" {
			t.Fatalf("profile %d %v", status, p)
		}
		req, _ = http.NewRequest(http.MethodGet, srv.URL+"/_matrix/client/v3/account/3pid", nil)
		req.Header.Set("Authorization", "Bearer "+access)
		if status, p := oidcDoJSON(t, req); status != http.StatusOK || !strings.Contains(oidcJSON(p), `"address":"erika@agency.example"`) {
			t.Fatalf("3pids %d %v", status, p)
		}
		// The second login of the same subject is the same account, even
		// if the provider's user name changed meanwhile.
		kc.SetUser(idpUser("kc-sub-1", "erika.renamed", "staff", "yes"))
		if _, again := oidcTokenLogin(t, srv, ssoLoginToken(t, srv, "oidc-kc")); again != "@erika:localhost" {
			t.Fatalf("second login: %s", again)
		}
	})

	t.Run("wrong state", func(t *testing.T) {
		kc.SetUser(idpUser("kc-sub-1", "erika", "staff", "yes"))
		b := oidcBrowser(t)
		cb, _ := url.Parse(callbackURL(t, b, srv, "oidc-kc"))
		q := cb.Query()
		q.Set("state", "forged"+q.Get("state")[6:])
		cb.RawQuery = q.Encode()
		status, body, _ := oidcGet(t, b, cb.String())
		oidcRefused(t, status, body, http.StatusBadRequest, "invalid, has expired or was used already")
	})

	t.Run("replayed state", func(t *testing.T) {
		b := oidcBrowser(t)
		cb := callbackURL(t, b, srv, "oidc-kc")
		status, body, _ := oidcGet(t, b, cb)
		loginToken(t, status, body)
		status, body, _ = oidcGet(t, b, cb)
		oidcRefused(t, status, body, http.StatusBadRequest, "was used already")
	})

	t.Run("state from another browser", func(t *testing.T) {
		cb := callbackURL(t, oidcBrowser(t), srv, "oidc-kc")
		status, body, _ := oidcGet(t, oidcBrowser(t), cb)
		oidcRefused(t, status, body, http.StatusBadRequest, "not started in this browser")
	})

	t.Run("expired code", func(t *testing.T) {
		kc.SetCodeLifetime(-time.Second)
		defer kc.SetCodeLifetime(time.Minute)
		status, body := ssoLogin(t, srv, "oidc-kc")
		oidcRefused(t, status, body, http.StatusForbidden, "could not be verified")
	})

	t.Run("missing required attribute", func(t *testing.T) {
		kc.SetUser(idpUser("kc-sub-2", "max"))
		status, body := ssoLogin(t, srv, "oidc-kc")
		oidcRefused(t, status, body, http.StatusForbidden, "lacks an attribute this server requires (staff)")
		kc.SetUser(idpUser("kc-sub-2", "max", "staff", "no"))
		status, body = ssoLogin(t, srv, "oidc-kc")
		oidcRefused(t, status, body, http.StatusForbidden, "lacks an attribute")
	})

	t.Run("existing account not linked without allow_existing_users", func(t *testing.T) {
		existing := srv.Register(t, "taken")
		kc.SetUser(idpUser("kc-sub-3", existing.UserID.Localpart(), "staff", "yes"))
		status, body := ssoLogin(t, srv, "oidc-kc")
		oidcRefused(t, status, body, http.StatusForbidden, "exists already and is not linked")
	})

	t.Run("not allowed to register", func(t *testing.T) {
		second.SetUser(idpUser("second-sub-1", "newcomer"))
		status, body := ssoLogin(t, srv, "oidc-second")
		oidcRefused(t, status, body, http.StatusForbidden, "may not create one")
	})

	t.Run("allow_existing_users links the existing account", func(t *testing.T) {
		existing := srv.Register(t, "existing")
		second.SetUser(idpUser("second-sub-2", existing.UserID.Localpart()))
		_, userID := oidcTokenLogin(t, srv, ssoLoginToken(t, srv, "oidc-second"))
		if userID != existing.UserID.String() {
			t.Fatalf("logged in as %s, want %s", userID, existing.UserID)
		}
	})

	t.Run("two providers, two accounts", func(t *testing.T) {
		// The same name at the second provider is not Erika: second may
		// not create accounts, and erika is linked to kc's subject only.
		second.SetUser(idpUser("second-sub-3", "erika"))
		_, userID := oidcTokenLogin(t, srv, ssoLoginToken(t, srv, "oidc-second"))
		if userID != "@erika:localhost" {
			t.Fatalf("second provider: %s", userID)
		}
		status, body := ssoLogin(t, srv, "oidc-unknown")
		if status != http.StatusNotFound || strings.Contains(body, "loginToken") {
			t.Fatalf("unknown provider: %d %s", status, body)
		}
	})

	t.Run("back-channel logout ends the session", func(t *testing.T) {
		kc.SetUser(idpUser("kc-sub-1", "erika", "staff", "yes"))
		access, _ := oidcTokenLogin(t, srv, ssoLoginToken(t, srv, "oidc-kc"))
		sid := oidcLastSession(t, kc)
		// A token signed by another provider's key is refused.
		forged := testoidc.Start(t, kc.ClientID, kc.ClientSecret).LogoutToken("kc-sub-1", sid)
		if status := oidcBackchannel(t, srv, forged); status != http.StatusBadRequest {
			t.Fatalf("forged logout token: %d", status)
		}
		if status, _ := oidcWhoami(t, srv, access); status != http.StatusOK {
			t.Fatalf("session gone after a forged logout: %d", status)
		}
		if status := oidcBackchannel(t, srv, kc.LogoutToken("kc-sub-1", sid)); status != http.StatusOK {
			t.Fatalf("logout: %d", status)
		}
		if status, _ := oidcWhoami(t, srv, access); status != http.StatusUnauthorized {
			t.Fatalf("whoami after back-channel logout: %d", status)
		}
		// Erika's earlier session, of another sid, is still there.
		if status, _ := oidcWhoami(t, srv, erikaToken); status != http.StatusOK {
			t.Fatalf("another session ended too: %d", status)
		}
		// A token with only the subject ends all of the user's sessions
		// through that provider.
		if status := oidcBackchannel(t, srv, kc.LogoutToken("kc-sub-1", "")); status != http.StatusOK {
			t.Fatalf("logout by subject: %d", status)
		}
		if status, _ := oidcWhoami(t, srv, erikaToken); status != http.StatusUnauthorized {
			t.Fatalf("whoami after logout by subject: %d", status)
		}
	})

	t.Run("user-interactive auth with m.login.sso", func(t *testing.T) {
		kc.SetUser(idpUser("kc-sub-1", "erika", "staff", "yes"))
		access, _ := oidcTokenLogin(t, srv, ssoLoginToken(t, srv, "oidc-kc"))
		req := func(auth any) (int, map[string]any) {
			body, _ := json.Marshal(map[string]any{"devices": []string{"NOSUCHDEVICE"}, "auth": auth})
			r, _ := http.NewRequest(http.MethodPost, srv.URL+"/_matrix/client/v3/delete_devices", bytes.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+access)
			r.Header.Set("Content-Type", "application/json")
			return oidcDoJSON(t, r)
		}
		status, challenge := req(nil)
		if status != http.StatusUnauthorized || oidcJSON(challenge["flows"]) != `[{"stages":["m.login.sso"]}]` {
			t.Fatalf("challenge %d %v", status, challenge)
		}
		session := challenge["session"].(string)
		if status, out := req(map[string]any{"type": "m.login.sso", "session": session}); status != http.StatusUnauthorized || out["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("sso stage before the fallback: %d %v", status, out)
		}
		fallback := srv.URL + "/_matrix/client/v3/auth/m.login.sso/fallback/web?session=" + url.QueryEscape(session)
		b := oidcBrowser(t)
		status, page, _ := oidcGet(t, b, fallback)
		if status != http.StatusOK || !strings.Contains(page, "idp=oidc-kc") {
			t.Fatalf("fallback page %d %s", status, page)
		}
		// Another user at the provider cannot confirm Erika's action.
		kc.SetUser(idpUser("kc-sub-9", "mallory", "staff", "yes"))
		status, page, _ = oidcGet(t, b, fallback+"&idp=oidc-kc")
		oidcRefused(t, status, page, http.StatusForbidden, "different user")
		kc.SetUser(idpUser("kc-sub-1", "erika", "staff", "yes"))
		status, page, _ = oidcGet(t, b, fallback+"&idp=oidc-kc")
		if status != http.StatusOK || !strings.Contains(page, "authDone") {
			t.Fatalf("fallback done page %d %s", status, page)
		}
		if status, out := req(map[string]any{"session": session}); status != http.StatusOK {
			t.Fatalf("after confirming: %d %v", status, out)
		}
	})
}

// TestOIDCPasswordLoginDisabled: password_config.enabled false leaves
// single sign-on only; the provider is configured without discovery.
func TestOIDCPasswordLoginDisabled(t *testing.T) {
	t.Parallel()
	kc := testoidc.Start(t, "rohrpost", "kc-secret")
	kc.RequirePKCE()
	cfg := apptest.Config(t.TempDir())
	// This provider's endpoints are configured, not discovered, and PKCE
	// is used although nothing announced it.
	p := oidcProvider("kc", kc)
	no := false
	p.Discover, p.PKCEMethod = &no, "always"
	p.AuthorizationEndpoint, p.TokenEndpoint, p.JWKSURI = kc.URL+"/auth", kc.URL+"/token", kc.URL+"/jwks"
	cfg.OIDCProviders = []config.OIDCProvider{p}
	cfg.EnableRegistration = false
	cfg.PasswordConfig.Enabled = "false"
	cfg.SSOClients.ClientWhitelist = []string{"https://client.example/"}
	srv := apptest.StartWith(t, cfg)
	cfg.PublicBaseURL = srv.URL

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/_matrix/client/v3/login", nil)
	if status, out := oidcDoJSON(t, req); status != http.StatusOK || strings.Contains(oidcJSON(out), "m.login.password") || !strings.Contains(oidcJSON(out), "m.login.sso") {
		t.Fatalf("flows %d %v", status, out)
	}
	status, out := oidcPostJSON(t, srv.URL+"/_matrix/client/v3/login", "", map[string]any{
		"type": "m.login.password", "identifier": map[string]string{"type": "m.id.user", "user": "anyone"}, "password": "x"})
	if status != http.StatusBadRequest || out["errcode"] != "M_UNKNOWN" {
		t.Fatalf("password login: %d %v", status, out)
	}
	// The /login/sso/redirect without a provider id goes to the only one.
	kc.SetUser(idpUser("kc-sub-1", "erika"))
	status2, body, _ := oidcGet(t, oidcBrowser(t), srv.URL+"/_matrix/client/v3/login/sso/redirect?redirectUrl="+url.QueryEscape(clientRedirect))
	if !strings.Contains(body, `http-equiv="refresh"`) {
		t.Fatalf("a whitelisted client is not sent on at once: %s", body)
	}
	access, userID := oidcTokenLogin(t, srv, loginToken(t, status2, body))
	if status, who := oidcWhoami(t, srv, access); status != http.StatusOK || who != userID {
		t.Fatalf("whoami %d %s", status, who)
	}
	status, out = oidcPostJSON(t, srv.URL+"/_matrix/client/v3/account/password", access, map[string]any{"new_password": "secret"})
	if status != http.StatusForbidden {
		t.Fatalf("password change: %d %v", status, out)
	}
}

func oidcRefused(t *testing.T, status int, body string, want int, text string) {
	t.Helper()
	if status != want || !strings.Contains(body, text) || strings.Contains(body, "loginToken") {
		t.Fatalf("got %d %q, want %d with %q and no login token", status, body, want, text)
	}
}

func oidcJSON(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}

func oidcBackchannel(t *testing.T, srv *apptest.Server, token string) int {
	t.Helper()
	resp, err := http.PostForm(srv.URL+"/_synapse/client/oidc/backchannel_logout", url.Values{"logout_token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func oidcLastSession(t *testing.T, p *testoidc.Provider) string {
	t.Helper()
	sid := p.LastSessionID()
	if sid == "" {
		t.Fatal("the provider made no session")
	}
	return sid
}
