package clientapi

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// Third-party networks are what bridges (application services) offer;
// this server has none registered, so it knows no protocol. Element asks
// for the list when it opens the room directory.

// thirdPartyProtocols is GET /thirdparty/protocols.
func (s *Server) thirdPartyProtocols(r *http.Request, dev *userapi.Device) (any, error) {
	return struct{}{}, nil
}

// thirdPartyProtocol is GET /thirdparty/protocol/{protocol} and the
// lookups by protocol: every protocol is unknown.
func (s *Server) thirdPartyProtocol(r *http.Request, dev *userapi.Device) (any, error) {
	return nil, mxhttp.NotFound("No bridge offers the protocol " + mux.Vars(r)["protocol"])
}
