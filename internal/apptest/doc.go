// Package apptest starts a whole rohrpost in-process behind an httptest
// server, on a fresh SQLite database (or PostgreSQL when
// ROHRPOST_TEST_POSTGRES names a server), and hands out real Matrix
// clients (mautrix) registered on it.
package apptest
