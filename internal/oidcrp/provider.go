package oidcrp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/claimtemplate"
)

// Errors of a login, each a different page for the user.
var (
	// ErrUnavailable is a provider that cannot be reached or whose
	// discovery document is unusable.
	ErrUnavailable = errors.New("identity provider unavailable")
	// ErrRejected is a code the provider did not exchange, or an ID token
	// that failed verification.
	ErrRejected = errors.New("identity provider's answer rejected")
	// ErrRequirement is a user who lacks a required attribute.
	ErrRequirement = errors.New("attribute requirement not met")
	// ErrMapping is a user whose claims give no usable Matrix user.
	ErrMapping = errors.New("claims cannot be mapped to a user")
)

// Provider is one configured identity provider.
type Provider struct {
	cfg         config.OIDCProvider
	client      *http.Client
	secret      string
	localpart   *claimtemplate.Template
	displayName *claimtemplate.Template
	email       *claimtemplate.Template

	// mu guards the endpoints, which discovery fills on first use (and
	// again after a failure), so that a provider that is down when the
	// server starts does not stop the start.
	mu       sync.Mutex
	ready    bool
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	userinfo string
	pkce     bool
	// logout verifies logout tokens; ID tokens of other clients or
	// issuers fail it as they fail verifier.
	logout *oidc.IDTokenVerifier
}

// New prepares a provider; client is what reaches it (the tls_client
// settings). Nothing is fetched until the first login.
func New(cfg config.OIDCProvider, client *http.Client) (*Provider, error) {
	p := &Provider{cfg: cfg, client: client}
	var err error
	if p.secret, err = cfg.Secret(); err != nil {
		return nil, fmt.Errorf("%s: client secret: %w", cfg.ID(), err)
	}
	m := cfg.UserMappingProvider.Config
	for _, t := range []struct {
		dst **claimtemplate.Template
		src string
	}{{&p.localpart, m.LocalpartTemplate}, {&p.displayName, m.DisplayNameTemplate}, {&p.email, m.EmailTemplate}} {
		if *t.dst, err = claimtemplate.Parse(t.src); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.ID(), err)
		}
	}
	return p, nil
}

// ID is the provider's id (config.OIDCProvider.ID).
func (p *Provider) ID() string { return p.cfg.ID() }

// Config is the provider's configuration.
func (p *Provider) Config() config.OIDCProvider { return p.cfg }

func (p *Provider) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, p.client)
}

// endpoints discovers the provider, or builds it from the configured
// endpoints, once.
func (p *Provider) endpoints(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready {
		return nil
	}
	ctx = p.ctx(ctx)
	var (
		provider  *oidc.Provider
		challenge []string
	)
	if p.cfg.Discovers() {
		var err error
		if provider, err = oidc.NewProvider(ctx, p.cfg.Issuer); err != nil {
			return fmt.Errorf("%w: %s: discovery: %v", ErrUnavailable, p.ID(), err)
		}
		var extra struct {
			CodeChallengeMethods []string `json:"code_challenge_methods_supported"`
		}
		if err := provider.Claims(&extra); err != nil {
			return fmt.Errorf("%w: %s: discovery document: %v", ErrUnavailable, p.ID(), err)
		}
		challenge = extra.CodeChallengeMethods
		p.userinfo = provider.UserInfoEndpoint()
	} else {
		provider = (&oidc.ProviderConfig{
			IssuerURL: p.cfg.Issuer, AuthURL: p.cfg.AuthorizationEndpoint, TokenURL: p.cfg.TokenEndpoint,
			UserInfoURL: p.cfg.UserinfoEndpoint, JWKSURL: p.cfg.JWKSURI,
		}).NewProvider(ctx)
		p.userinfo = p.cfg.UserinfoEndpoint
	}
	endpoint := provider.Endpoint()
	switch p.cfg.AuthMethod() {
	case "client_secret_post", "none":
		endpoint.AuthStyle = oauth2.AuthStyleInParams
	default:
		endpoint.AuthStyle = oauth2.AuthStyleInHeader
	}
	secret := p.secret
	if p.cfg.AuthMethod() == "none" {
		secret = ""
	}
	p.oauth = oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: secret, Endpoint: endpoint, Scopes: p.cfg.ScopeList()}
	// The verifiers fetch keys with a context of their own: the request
	// that happens to fetch them first may end before the next needs them.
	keysCtx := p.ctx(context.Background())
	p.verifier = provider.VerifierContext(keysCtx, &oidc.Config{ClientID: p.cfg.ClientID})
	p.logout = p.verifier
	switch p.cfg.PKCE() {
	case "always":
		p.pkce = true
	case "auto":
		p.pkce = slices.Contains(challenge, "S256")
	}
	p.ready = true
	return nil
}

// AuthCodeURL is where the browser logs in: the authorization request
// bound to state, nonce and, when PKCE is used, verifier's challenge; the
// provider sends the browser back to callback.
func (p *Provider) AuthCodeURL(ctx context.Context, state, nonce, verifier, callback string) (string, error) {
	if err := p.endpoints(ctx); err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.SetAuthURLParam("redirect_uri", callback)}
	if p.pkce {
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	return p.oauth.AuthCodeURL(state, opts...), nil
}
