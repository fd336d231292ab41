package userapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/userapi/storage"
)

// Single sign-on's accounts: a user at an identity provider (provider id
// and subject) is linked to one local account, made at their first login
// or, when the provider allows it, an existing one of the mapped name.

// ErrSSORegistrationDisabled is a first single sign-on of a user the
// provider may not create an account for (its enable_registration is
// false and no account is linked or may be).
var ErrSSORegistrationDisabled = errors.New("single sign-on may not create accounts")

// SSOUserRequest is a user an identity provider vouched for.
type SSOUserRequest struct {
	AuthProvider, ExternalID string
	// User is the account the provider's mapping names (localpart_template).
	User        spec.UserID
	DisplayName string
	// Email is bound to a new account unless it is bound to another.
	Email string
	// Register lets a new account be made; LinkExisting lets User be
	// linked when it exists already (allow_existing_users).
	Register, LinkExisting bool
}

// SSOUser is the account linked to the external id, linking or creating
// one on the first login. ErrUserInUse when User exists and may not be
// linked, ErrSSORegistrationDisabled when it does not and may not be
// made, ErrDeactivated when the linked account is deactivated.
func (s *Server) SSOUser(ctx context.Context, req SSOUserRequest) (spec.UserID, error) {
	if linked, err := s.ExternalIDUser(ctx, req.AuthProvider, req.ExternalID); err == nil {
		return linked, s.activeAccount(ctx, linked)
	} else if !errors.Is(err, ErrNotFound) {
		return spec.UserID{}, err
	}
	link := storage.ExternalID{AuthProvider: req.AuthProvider, ExternalID: req.ExternalID, UserID: req.User.String()}
	acc, err := s.store.Account(ctx, req.User.String())
	switch {
	case err == nil && !req.LinkExisting:
		return spec.UserID{}, fmt.Errorf("%s: %w", req.User.String(), ErrUserInUse)
	case err == nil && acc.Deactivated:
		return spec.UserID{}, ErrDeactivated
	case err == nil:
		if err := s.store.LinkExternalID(ctx, link); err != nil {
			return spec.UserID{}, s.linkRace(ctx, req, err)
		}
		return req.User, nil
	case !errors.Is(err, storage.ErrNotFound):
		return spec.UserID{}, err
	case !req.Register:
		return spec.UserID{}, ErrSSORegistrationDisabled
	}
	if !s.isLocal(req.User.Domain()) {
		return spec.UserID{}, fmt.Errorf("%w: %s is not a local server name", ErrInvalidUsername, req.User.Domain())
	}
	if err := ValidateLocalpart(req.User.Local(), req.User.Domain()); err != nil {
		return spec.UserID{}, err
	}
	displayName := req.DisplayName
	if displayName == "" {
		displayName = req.User.Local()
	}
	now := time.Now().UnixMilli()
	err = s.store.CreateLinkedAccount(ctx, storage.Account{UserID: req.User.String(), CreatedTS: now}, displayName, link, s.ssoEmail(ctx, req, now))
	if err != nil {
		return spec.UserID{}, s.linkRace(ctx, req, err)
	}
	return req.User, nil
}

// linkRace turns a failed link or creation into its answer: when the same
// provider user logged in twice at once, the other login's link wins and
// both end up with its account.
func (s *Server) linkRace(ctx context.Context, req SSOUserRequest, err error) error {
	if !errors.Is(err, storage.ErrExists) {
		return err
	}
	if linked, lerr := s.ExternalIDUser(ctx, req.AuthProvider, req.ExternalID); lerr == nil && linked == req.User {
		return nil
	}
	return fmt.Errorf("%s: %w", req.User.String(), ErrUserInUse)
}

// ssoEmail is the address to bind to a new account: none when it is not
// an address or another account has it (the login goes on without it).
func (s *Server) ssoEmail(ctx context.Context, req SSOUserRequest, now int64) *storage.ThreePID {
	if req.Email == "" {
		return nil
	}
	address, err := CanonicalEmail(req.Email)
	if err != nil {
		slog.Info("single sign-on: e-mail address not bound", "user", req.User.String(), "reason", err)
		return nil
	}
	if _, err := s.store.ThreePIDOwner(ctx, MediumEmail, address); err == nil {
		slog.Info("single sign-on: e-mail address not bound, another account has it", "user", req.User.String())
		return nil
	}
	return &storage.ThreePID{Medium: MediumEmail, Address: address, UserID: req.User.String(), AddedTS: now, ValidatedTS: now}
}

func (s *Server) activeAccount(ctx context.Context, user spec.UserID) error {
	acc, err := s.store.Account(ctx, user.String())
	if err != nil {
		return userError(err)
	}
	if acc.Deactivated {
		return ErrDeactivated
	}
	return nil
}

// ExternalIDUser is the account linked to the external id; ErrNotFound
// if none.
func (s *Server) ExternalIDUser(ctx context.Context, authProvider, externalID string) (spec.UserID, error) {
	owner, err := s.store.ExternalIDUser(ctx, authProvider, externalID)
	if err != nil {
		return spec.UserID{}, userError(err)
	}
	user, err := spec.NewUserID(owner, true)
	if err != nil {
		return spec.UserID{}, fmt.Errorf("stored user id %q: %w", owner, err)
	}
	return *user, nil
}

// ExternalIDs lists the user's links to identity providers.
func (s *Server) ExternalIDs(ctx context.Context, user spec.UserID) ([]storage.ExternalID, error) {
	return s.store.ExternalIDs(ctx, user.String())
}

// LogoutSSOSessions logs out the devices that logged in through the
// provider's session, or (session "") all of user's through the
// provider, and tells how many.
func (s *Server) LogoutSSOSessions(ctx context.Context, authProvider, session, user string) (int, error) {
	revoked, err := s.store.DeleteSSOSessions(ctx, authProvider, session, user)
	if err != nil {
		return 0, err
	}
	s.revoke(revoked)
	return len(revoked), nil
}
