// Package retention runs the jobs that delete personal data after a
// time (stale devices, old client addresses, forgotten rooms, old media,
// old messages: config/retention.go) in the background.
//
// Each job runs once per deployment however many processes offer it: a
// row per job in the database is its lease, taken by one process at a
// time and renewed while it works. A round stores its progress in the
// same row after every batch, so a round cut short by a crash is
// continued by whichever process takes the lease next, with the same
// cutoff time. The clock is injected, so tests move time by hand.
//
// The jobs themselves live with the data they delete (userapi,
// roomserver, mediaapi) and are registered by the composition root
// (internal/app) in the processes that run those components.
package retention
