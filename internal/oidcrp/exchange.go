package oidcrp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Identity is who the provider says logged in.
type Identity struct {
	// Subject is the subject_claim's value: the user at the provider,
	// for good.
	Subject string
	// SessionID is the provider's session ("sid"), which back-channel
	// logout names; "" when the provider sends none.
	SessionID string
	Claims    map[string]any
}

// Exchange trades the authorization code for tokens, verifies the ID
// token (signature, issuer, audience, expiry, nonce) and returns the
// user's claims: the ID token's, or the userinfo endpoint's when
// user_profile_method is userinfo_endpoint. callback is the redirect_uri
// of the authorization request.
func (p *Provider) Exchange(ctx context.Context, code, verifier, nonce, callback string) (*Identity, error) {
	if err := p.endpoints(ctx); err != nil {
		return nil, err
	}
	ctx = p.ctx(ctx)
	opts := []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("redirect_uri", callback)}
	if p.pkce {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	token, err := p.oauth.Exchange(ctx, code, opts...)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%w: token endpoint: %s %s", ErrRejected, re.ErrorCode, re.ErrorDescription)
		}
		return nil, fmt.Errorf("%w: token endpoint: %v", ErrUnavailable, err)
	}
	raw, ok := token.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, fmt.Errorf("%w: no id_token in the token response", ErrRejected)
	}
	idToken, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: ID token: %v", ErrRejected, err)
	}
	if subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(nonce)) != 1 {
		return nil, fmt.Errorf("%w: ID token: nonce does not match", ErrRejected)
	}
	claims := map[string]any{}
	if err := idToken.Claims(&claims); err != nil {
		return nil, fmt.Errorf("%w: ID token claims: %v", ErrRejected, err)
	}
	sid, _ := claims["sid"].(string)
	if p.cfg.UserProfileMethod == "userinfo_endpoint" {
		if claims, err = p.userinfoClaims(ctx, token, idToken.Subject); err != nil {
			return nil, err
		}
	}
	subject, err := claimString(claims, p.cfg.UserMappingProvider.Config.Subject())
	if err != nil {
		return nil, err
	}
	return &Identity{Subject: subject, SessionID: sid, Claims: claims}, nil
}

func (p *Provider) userinfoClaims(ctx context.Context, token *oauth2.Token, subject string) (map[string]any, error) {
	if p.userinfo == "" {
		return nil, fmt.Errorf("%w: the provider has no userinfo endpoint", ErrUnavailable)
	}
	info, err := (&oidc.ProviderConfig{UserInfoURL: p.userinfo}).NewProvider(ctx).UserInfo(ctx, oauth2.StaticTokenSource(token))
	if err != nil {
		return nil, fmt.Errorf("%w: userinfo: %v", ErrRejected, err)
	}
	// OIDC Core 5.3.2: a userinfo response of another subject must not
	// be used.
	if info.Subject != subject {
		return nil, fmt.Errorf("%w: userinfo is about another subject", ErrRejected)
	}
	claims := map[string]any{}
	if err := info.Claims(&claims); err != nil {
		return nil, fmt.Errorf("%w: userinfo claims: %v", ErrRejected, err)
	}
	return claims, nil
}

// claimString reads a claim that identifies: a string, or a whole number
// (some providers' numeric ids).
func claimString(claims map[string]any, name string) (string, error) {
	switch v := claims[name].(type) {
	case string:
		if v != "" {
			return v, nil
		}
	case float64:
		if v == float64(int64(v)) {
			return strconv.FormatInt(int64(v), 10), nil
		}
	}
	return "", fmt.Errorf("%w: claim %q is missing or not a string", ErrMapping, name)
}

// CheckRequirements tells whether the claims meet attribute_requirements.
// A claim that is a list meets a requirement when one of its members does.
func (p *Provider) CheckRequirements(claims map[string]any) error {
	for _, req := range p.cfg.AttributeRequirements {
		allowed := req.OneOf
		if req.Value != nil {
			allowed = []string{*req.Value}
		}
		if !claimMatches(claims[req.Attribute], allowed) {
			return fmt.Errorf("%w: %s", ErrRequirement, req.Attribute)
		}
	}
	return nil
}

func claimMatches(v any, allowed []string) bool {
	switch x := v.(type) {
	case string:
		for _, a := range allowed {
			if x == a {
				return true
			}
		}
	case []any:
		for _, item := range x {
			if claimMatches(item, allowed) {
				return true
			}
		}
	}
	return false
}

// Mapped is the Matrix user the claims describe.
type Mapped struct {
	Localpart, DisplayName, Email string
}

// Map renders the mapping templates. The localpart is lower-cased as
// Matrix user ids are; one that is empty is ErrMapping.
func (p *Provider) Map(claims map[string]any) (Mapped, error) {
	m := Mapped{
		Localpart:   strings.ToLower(strings.TrimSpace(p.localpart.Execute(claims))),
		DisplayName: strings.TrimSpace(p.displayName.Execute(claims)),
		Email:       strings.TrimSpace(p.email.Execute(claims)),
	}
	if m.Localpart == "" {
		return m, fmt.Errorf("%w: localpart_template gives an empty name", ErrMapping)
	}
	return m, nil
}

// VerifyLogout verifies a back-channel logout token with the provider's
// keys (signature, issuer, audience, expiry, the logout event, no nonce).
func (p *Provider) VerifyLogout(ctx context.Context, raw string) (*oidc.LogoutToken, error) {
	if err := p.endpoints(ctx); err != nil {
		return nil, err
	}
	t, err := p.logout.VerifyLogout(p.ctx(ctx), raw)
	if err != nil {
		return nil, fmt.Errorf("%w: logout token: %v", ErrRejected, err)
	}
	return t, nil
}
