// Package storage is the roomserver's SQL: rooms, events, state snapshots
// stored as deltas, current state, memberships, transaction ids and aliases.
// Only the roomserver writes here; syncapi and federationapi read.
package storage
