// Package storage is the federation API's SQL: the keys of other servers
// (with their validity, kept after they expire for old events), inbound
// transaction results, and the durable per-destination send queue. It is
// a leaf: it knows rows, not Matrix rules, and never imports federationapi.
package storage
