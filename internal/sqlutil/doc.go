// Package sqlutil opens rohrpost's one database (SQLite or PostgreSQL), runs
// each component's embedded migrations and serialises writes through a group
// committer. Queries are written once with $N placeholders, which both
// drivers accept; the few real dialect differences live in Dialect.
//
// SQLite reads $N as a named parameter and numbers parameters in the order
// they first appear in the query, not by N: write $1, $2, … in that order
// (a later one may repeat an earlier one).
package sqlutil
