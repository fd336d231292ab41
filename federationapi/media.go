package federationapi

import "github.com/gorilla/mux"

// mediaRoutes mounts nothing yet (/_matrix/federation/v1/media/download
// and /thumbnail arrive here).
func (s *Server) mediaRoutes(*mux.Router) {}
