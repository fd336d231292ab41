// Package adminapi serves Synapse's admin API (/_synapse/admin/...) so
// that synapse-admin and operators' scripts work unchanged against
// rohrpost, and keeps the audit log of every admin action. It runs where
// the client API runs (docs/decisions/0020).
package adminapi
