package clientapi

import (
	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/userapi"
)

// Deps are the component APIs the client API calls.
type Deps struct {
	Users userapi.API
}

// Server holds the client API's handlers.
type Server struct {
	cfg   *config.Config
	users userapi.API
	uia   *uiaSessions
}

// New builds the client API.
func New(cfg *config.Config, deps Deps) (*Server, error) {
	return &Server{cfg: cfg, users: deps.Users, uia: newUIASessions()}, nil
}
