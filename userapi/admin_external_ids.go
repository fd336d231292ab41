package userapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/userapi/storage"
)

// ErrExternalIDInUse is an external id linked to another account.
var ErrExternalIDInUse = storage.ErrExternalIDInUse

// SetExternalIDs implements API.
func (s *Server) SetExternalIDs(ctx context.Context, user spec.UserID, ids []storage.ExternalID) error {
	if _, err := s.store.Account(ctx, user.String()); err != nil {
		return userError(err)
	}
	return s.store.SetExternalIDs(ctx, user.String(), ids)
}

// SetThreePIDs implements API: an admin binds addresses without their
// owner proving them, as Synapse's admin API does (e-mail only: rohrpost
// sends no SMS).
func (s *Server) SetThreePIDs(ctx context.Context, user spec.UserID, tps []ThreePID) error {
	if _, err := s.store.Account(ctx, user.String()); err != nil {
		return userError(err)
	}
	now := nowMillis()
	rows := make([]storage.ThreePID, 0, len(tps))
	for _, t := range tps {
		if t.Medium != MediumEmail {
			return fmt.Errorf("%w: medium %q is not supported", ErrInvalidThreePID, t.Medium)
		}
		addr, err := CanonicalEmail(t.Address)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrInvalidThreePID, err.Error())
		}
		rows = append(rows, storage.ThreePID{Medium: t.Medium, Address: addr, AddedTS: now, ValidatedTS: now})
	}
	err := s.store.SetThreePIDs(ctx, user.String(), rows)
	if errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("%w: %s", ErrThreePIDInUse, err.Error())
	}
	return err
}

// ErrInvalidThreePID is an address the admin API cannot bind.
var ErrInvalidThreePID = errors.New("invalid third-party id")
