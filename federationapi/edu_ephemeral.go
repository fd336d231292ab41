package federationapi

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// PLACEHOLDER: typing, receipts and presence across servers are being
// built (issue 11); until then these EDUs are dropped with a log line.

var errEDUNotHandled = errors.New("EDU type not handled yet")

func (s *Server) onTyping(context.Context, spec.ServerName, json.RawMessage) error {
	return errEDUNotHandled
}

func (s *Server) onReceipt(context.Context, spec.ServerName, json.RawMessage) error {
	return errEDUNotHandled
}

func (s *Server) onPresence(context.Context, spec.ServerName, json.RawMessage) error {
	return errEDUNotHandled
}

// ephemeralRoutes mounts nothing yet.
func (s *Server) ephemeralRoutes(*mux.Router) {}
