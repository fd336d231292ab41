// Package serverkey reads and writes a server's ed25519 signing key in
// Synapse's one-line format: "ed25519 <version> <unpadded base64 seed>".
package serverkey
