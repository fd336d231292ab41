package federationapi

import (
	"context"
	"log/slog"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// handleEDUs takes the ephemeral part of a transaction. EDUs have no
// results: a bad one is logged and dropped, as the spec allows.
func (s *Server) handleEDUs(ctx context.Context, origin spec.ServerName, edus []gomatrixserverlib.EDU) {
	for _, edu := range edus {
		slog.Debug("federation: EDU not handled yet", "origin", origin, "type", edu.Type)
	}
}
