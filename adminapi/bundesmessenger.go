package adminapi

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/rohrpost/rohrpost/bundesmessenger"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// maintenancePath is where admins read and replace the BundesMessenger
// apps' maintenance document (/_matrix/cmaintenance) without a restart.
const maintenancePath = "/v1/bundesmessenger/maintenance"

// maxMaintenanceBytes bounds a maintenance document: a few windows and
// the version gate, read by every app at start.
const maxMaintenanceBytes = 64 << 10

func (s *Server) bundesMessengerRoutes(a *mux.Router) {
	a.Handle(maintenancePath, s.read(s.getMaintenance)).Methods(http.MethodGet)
	a.Handle(maintenancePath, s.act("bundesmessenger.maintenance.set", s.putMaintenance)).Methods(http.MethodPut)
	a.Handle(maintenancePath, s.act("bundesmessenger.maintenance.reset", s.deleteMaintenance)).Methods(http.MethodDelete)
}

// getMaintenance is GET: the document the apps get now.
func (s *Server) getMaintenance(r *http.Request, _ *userapi.Device) (any, error) {
	if s.maintenance == nil {
		return nil, mxhttp.NotFound("The BundesMessenger endpoints do not run here")
	}
	doc, err := s.maintenance.Document(r.Context())
	if err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, mxhttp.NotFound("No maintenance document is set")
	}
	return doc, nil
}

// putMaintenance is PUT: the body replaces the document for every
// process until DELETE; one not in the apps' shape is refused whole.
func (s *Server) putMaintenance(r *http.Request, admin *userapi.Device) (any, error) {
	if s.maintenance == nil {
		return nil, mxhttp.NotFound("The BundesMessenger endpoints do not run here")
	}
	body, err := mxhttp.ReadBody(r, maxMaintenanceBytes)
	if err != nil {
		return nil, err
	}
	var probe map[string]any
	if err := mxhttp.Unmarshal(body, &probe); err != nil {
		return nil, err
	}
	err = s.maintenance.Set(r.Context(), body, admin.UserID.String())
	if errors.Is(err, bundesmessenger.ErrInvalidDocument) {
		return nil, mxhttp.BadJSON(err.Error())
	}
	if err != nil {
		return nil, err
	}
	setAuditTarget(r, "maintenance")
	return struct{}{}, nil
}

// deleteMaintenance is DELETE: the configured maintenance_file is
// served again (or nothing, without one).
func (s *Server) deleteMaintenance(r *http.Request, _ *userapi.Device) (any, error) {
	if s.maintenance == nil {
		return nil, mxhttp.NotFound("The BundesMessenger endpoints do not run here")
	}
	if err := s.maintenance.Reset(r.Context()); err != nil {
		return nil, err
	}
	setAuditTarget(r, "maintenance")
	return struct{}{}, nil
}
