// Package federationapi serves /_matrix/federation/* and /_matrix/key/*.
// For now it publishes the server's signing keys and tells third parties
// whose OpenID token they hold; the server-server API arrives with the
// federation issue.
package federationapi
