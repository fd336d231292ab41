// Package oidcrp is the relying-party side of OpenID Connect for one
// configured provider (oidc_providers): discovery, the authorization
// request with nonce and PKCE, the code exchange with the ID token's
// verification, the userinfo endpoint, attribute requirements, the
// mapping of claims to a Matrix user, and back-channel logout tokens.
// JWT and discovery handling are go-oidc's; HTTP routes, sessions and
// accounts are the client API's.
package oidcrp
