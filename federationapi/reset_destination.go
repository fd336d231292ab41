package federationapi

import (
	"context"
	"errors"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/federationapi/storage"
)

// ResetDestination ends the backoff from a destination (queue_lease.go).
func (s *Server) ResetDestination(ctx context.Context, destination spec.ServerName) error {
	err := s.queue.ResetDestination(ctx, destination)
	if errors.Is(err, storage.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

func (c *Client) ResetDestination(ctx context.Context, destination spec.ServerName) error {
	return c.rpc.Call(ctx, "ResetDestination", []any{destination})
}
