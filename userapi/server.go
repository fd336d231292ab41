package userapi

import (
	"context"
	"fmt"
	"sync"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/userapi/storage"
)

// DefaultPasswordCost is the bcrypt cost of new password hashes.
const DefaultPasswordCost = 10

// Server is the in-process implementation of API.
type Server struct {
	cfg   *config.Config
	store *storage.Store
	// bus carries change notifications to other components; nil in tests
	// of this package alone.
	bus  *bus.Conn
	subs []*nats.Subscription

	// PasswordCost is the bcrypt cost of new password hashes. Tests lower
	// it to bcrypt.MinCost; set it before the server is used.
	PasswordCost int

	tokens tokenCache
	seen   seenDevices

	dummyOnce sync.Once
	dummyHash []byte
}

var _ API = (*Server)(nil)

// New migrates the userapi tables and returns the server. b may be nil.
func New(cfg *config.Config, db *sqlutil.DB, b *bus.Conn) (*Server, error) {
	store, err := storage.Open(context.Background(), db)
	if err != nil {
		return nil, fmt.Errorf("userapi storage: %w", err)
	}
	s := &Server{
		cfg:          cfg,
		store:        store,
		bus:          b,
		PasswordCost: DefaultPasswordCost,
		seen:         seenDevices{last: map[int64]seen{}},
	}
	if err := s.followForgottenTokens(); err != nil {
		return nil, err
	}
	return s, nil
}

// isLocal tells whether name is one of the server names this deployment
// hosts (config.Config.IsLocal).
func (s *Server) isLocal(name spec.ServerName) bool {
	return s.cfg.IsLocal(name)
}

// passwordCost keeps a zero or out-of-range cost from failing every hash.
func (s *Server) passwordCost() int {
	if s.PasswordCost < bcrypt.MinCost || s.PasswordCost > bcrypt.MaxCost {
		return DefaultPasswordCost
	}
	return s.PasswordCost
}
