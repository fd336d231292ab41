package testoidc

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Provider is a running test provider.
type Provider struct {
	// URL is the issuer.
	URL          string
	ClientID     string
	ClientSecret string

	srv *httptest.Server
	key *rsa.PrivateKey
	kid string

	mu sync.Mutex
	// claims are the approved user's, sub included.
	claims map[string]any
	// codeLifetime is how long a code may be exchanged.
	codeLifetime time.Duration
	codes        map[string]*grant
	// requirePKCE refuses authorization requests without a challenge.
	requirePKCE bool
	tokens      map[string]map[string]any
	sessions    int
}

// grant is an issued authorization code.
type grant struct {
	redirectURI, nonce, challenge, sid string
	claims                             map[string]any
	expires                            time.Time
}

// Start runs a provider until the test ends. Its client authenticates
// with client_secret_basic or client_secret_post.
func Start(t testing.TB, clientID, clientSecret string) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{ClientID: clientID, ClientSecret: clientSecret, key: key, kid: "test-key",
		codeLifetime: time.Minute, codes: map[string]*grant{}, tokens: map[string]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /auth", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /userinfo", p.userinfo)
	p.srv = httptest.NewServer(mux)
	p.URL = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

// SetUser makes the authorization endpoint approve the user with these
// claims (sub is required).
func (p *Provider) SetUser(claims map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.claims = claims
}

// RequirePKCE makes the authorization endpoint refuse requests without a
// PKCE challenge, as a provider configured to require it does.
func (p *Provider) RequirePKCE() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requirePKCE = true
}

// SetCodeLifetime changes how long new codes may be exchanged.
func (p *Provider) SetCodeLifetime(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.codeLifetime = d
}

// LastSessionID is the sid of the latest login.
func (p *Provider) LastSessionID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sessions == 0 {
		return ""
	}
	return fmt.Sprintf("session-%d", p.sessions)
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.URL,
		"authorization_endpoint":                p.URL + "/auth",
		"token_endpoint":                        p.URL + "/token",
		"userinfo_endpoint":                     p.URL + "/userinfo",
		"jwks_uri":                              p.URL + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"backchannel_logout_supported":          true,
		"backchannel_logout_session_supported":  true,
	})
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &p.key.PublicKey, KeyID: p.kid, Algorithm: string(jose.RS256), Use: "sig",
	}}})
}

// authorize approves the configured user at once and sends the browser
// back with a code, as a provider does after its login form.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Scheme == "" || q.Get("client_id") != p.ClientID || q.Get("response_type") != "code" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	if m := q.Get("code_challenge_method"); q.Get("code_challenge") != "" && m != "S256" {
		http.Error(w, "only S256", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	if p.requirePKCE && q.Get("code_challenge") == "" {
		p.mu.Unlock()
		http.Error(w, "PKCE required", http.StatusBadRequest)
		return
	}
	if p.claims == nil {
		p.mu.Unlock()
		http.Error(w, "no user configured", http.StatusForbidden)
		return
	}
	code := random()
	p.sessions++
	p.codes[code] = &grant{redirectURI: redirect.String(), nonce: q.Get("nonce"), challenge: q.Get("code_challenge"),
		sid: fmt.Sprintf("session-%d", p.sessions), claims: p.claims, expires: time.Now().Add(p.codeLifetime)}
	p.mu.Unlock()
	back := redirect.Query()
	back.Set("code", code)
	back.Set("state", q.Get("state"))
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// token exchanges a code once, checking client, redirect URI, expiry
// and the PKCE verifier.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, "invalid_request", err.Error())
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		oauthError(w, "unsupported_grant_type", "")
		return
	}
	p.mu.Lock()
	code := r.PostForm.Get("code")
	g := p.codes[code]
	delete(p.codes, code) // a code is used once, whatever happens
	p.mu.Unlock()
	switch {
	case g == nil:
		oauthError(w, "invalid_grant", "unknown or used code")
		return
	case time.Now().After(g.expires):
		oauthError(w, "invalid_grant", "code expired")
		return
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		oauthError(w, "invalid_grant", "redirect_uri differs")
		return
	case g.challenge != "" && s256(r.PostForm.Get("code_verifier")) != g.challenge:
		oauthError(w, "invalid_grant", "PKCE verification failed")
		return
	}
	now := time.Now()
	idClaims := map[string]any{}
	for k, v := range g.claims {
		idClaims[k] = v
	}
	idClaims["iss"], idClaims["aud"], idClaims["iat"], idClaims["exp"] = p.URL, p.ClientID, now.Unix(), now.Add(5*time.Minute).Unix()
	idClaims["nonce"], idClaims["sid"] = g.nonce, g.sid
	access := random()
	p.mu.Lock()
	p.tokens[access] = g.claims
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": p.Sign(idClaims),
	})
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	p.mu.Lock()
	claims, ok := p.tokens[h[min(len(prefix), len(h)):]]
	p.mu.Unlock()
	if len(h) <= len(prefix) || !ok {
		http.Error(w, "unknown access token", http.StatusUnauthorized)
		return
	}
	writeJSON(w, http.StatusOK, claims)
}

// Sign makes a JWT of claims with the provider's key.
func (p *Provider) Sign(claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", p.kid))
	if err != nil {
		panic(err)
	}
	payload, _ := json.Marshal(claims)
	sig, err := signer.Sign(payload)
	if err != nil {
		panic(err)
	}
	raw, err := sig.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return raw
}

// LogoutToken is a back-channel logout token for the subject and/or the
// session ("" leaves a claim out).
func (p *Provider) LogoutToken(sub, sid string) string {
	now := time.Now()
	claims := map[string]any{
		"iss": p.URL, "aud": p.ClientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(), "jti": random(),
		"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
	}
	if sub != "" {
		claims["sub"] = sub
	}
	if sid != "" {
		claims["sid"] = sid
	}
	return p.Sign(claims)
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func random() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, code, description string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": description})
}
