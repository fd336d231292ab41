package storage

import "github.com/rohrpost/rohrpost/internal/sqlutil"

// DB is the database the admin API reads, for the user export
// (adminapi/user_export.go), which reads every component's tables of one
// user (userexport, decision 0001).
func (s *Store) DB() *sqlutil.DB { return s.db }
