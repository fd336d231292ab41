// Package userexport writes what the server holds about one local user
// into one zip archive: the answer to a data subject's request under
// Art. 15 GDPR (docs/data-protection.md). `rohrpost export-user` and the
// admin API's POST /_synapse/admin/v1/users/{userId}/export both use it.
//
// It reads the tables of every component directly (one database,
// decision 0001) and streams: rows are written to the archive as they
// are read, so a user with a million events needs no more memory than a
// user with ten. Events go out as stored (the signed PDU, byte for byte);
// uploaded files come through a Media source, the media API's (which
// works across processes) or the media store directory.
package userexport
