package federationapi

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// handleEDUs takes the ephemeral part of a transaction. EDUs have no
// results: a bad one is logged and dropped, as the spec allows. Each kind
// is handled in the file of its concern.
func (s *Server) handleEDUs(ctx context.Context, origin spec.ServerName, edus []gomatrixserverlib.EDU) {
	for _, edu := range edus {
		content := json.RawMessage(edu.Content)
		var err error
		switch edu.Type {
		case spec.MTyping:
			err = s.onTyping(ctx, origin, content)
		case spec.MReceipt:
			err = s.onReceipt(ctx, origin, content)
		case spec.MPresence:
			err = s.onPresence(ctx, origin, content)
		case spec.MDeviceListUpdate:
			err = s.onDeviceListUpdate(ctx, origin, content)
		case mSigningKeyUpdate:
			err = s.onSigningKeyUpdate(ctx, origin, content)
		case spec.MDirectToDevice:
			err = s.onDirectToDevice(ctx, origin, content)
		default:
			slog.Debug("federation: EDU of unknown type dropped", "origin", origin, "type", edu.Type)
		}
		if err != nil {
			slog.Info("federation: EDU dropped", "origin", origin, "type", edu.Type, "err", err)
		}
	}
}

// mSigningKeyUpdate is the EDU that carries a user's new cross-signing keys.
const mSigningKeyUpdate = "m.signing_key_update"
