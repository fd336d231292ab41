// Package testoidc is an OpenID Connect provider for tests: discovery,
// an RSA key set, an authorization endpoint that approves one configured
// user at once, a token endpoint that checks the client, the code's
// redirect URI, expiry, single use and PKCE, a userinfo endpoint, and
// back-channel logout tokens. It speaks HTTP like a real provider, so the
// server under test goes through its whole login flow.
package testoidc
