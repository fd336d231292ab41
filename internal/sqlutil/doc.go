// Package sqlutil opens rohrpost's one database (SQLite or PostgreSQL), runs
// each component's embedded migrations and serialises writes through a group
// committer. Queries are written once with $N placeholders, which both
// drivers accept; the few real dialect differences live in Dialect.
package sqlutil
