// Package app is the composition root: it opens the database and the bus,
// builds every component with its dependencies, and assembles the HTTP
// handlers. cmd/rohrpost and the integration tests both start servers
// through it, so they run the same wiring.
package app
