package federationapi

import (
	"context"
	"encoding/json"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// PLACEHOLDER: device lists, signing keys and to-device messages across
// servers are being built (issue 11); until then these EDUs are dropped.

func (s *Server) onDeviceListUpdate(context.Context, spec.ServerName, json.RawMessage) error {
	return errEDUNotHandled
}

func (s *Server) onSigningKeyUpdate(context.Context, spec.ServerName, json.RawMessage) error {
	return errEDUNotHandled
}

func (s *Server) onDirectToDevice(context.Context, spec.ServerName, json.RawMessage) error {
	return errEDUNotHandled
}

// e2eeRoutes mounts nothing yet (/user/devices, /user/keys/query and
// /user/keys/claim arrive here).
func (s *Server) e2eeRoutes(*mux.Router) {}
