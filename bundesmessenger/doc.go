// Package bundesmessenger serves what the BundesMessenger apps read
// beyond the Matrix spec, which Synapse deployments served from nginx
// sidecars: the maintenance document (/_matrix/cmaintenance), the
// configuration JWTs (/_bum/configure/v1/verify) and the map style
// (/_matrix/cconfig/style.json). It owns the maintenance document an
// admin set at runtime (docs/bundesmessenger.md, docs/decisions).
package bundesmessenger
