package userapi

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/userapi/storage"
)

// generatedIDAttempts bounds the retries when a generated numeric user id
// is already taken.
const generatedIDAttempts = 10

// Register creates an account. A guest, or a request without a user,
// gets a generated numeric user id on the local server name.
func (s *Server) Register(ctx context.Context, req RegisterRequest) (*Session, error) {
	generated := req.Kind == KindGuest || req.User.Local() == ""
	domain := s.cfg.ServerName
	if !generated {
		domain = req.User.Domain()
		if !s.isLocal(domain) {
			return nil, fmt.Errorf("%w: %s is not a local server name", ErrInvalidUsername, domain)
		}
		if err := ValidateLocalpart(req.User.Local(), domain); err != nil {
			return nil, err
		}
	} else if d := req.User.Domain(); d != "" && s.isLocal(d) {
		domain = d
	}

	acc := storage.Account{
		IsGuest:   req.Kind == KindGuest,
		IsAdmin:   req.Admin,
		CreatedTS: time.Now().UnixMilli(),
	}
	if req.Password != "" && req.Kind != KindGuest {
		hash, err := s.hashPassword(req.Password)
		if err != nil {
			return nil, fmt.Errorf("hash password: %w", err)
		}
		acc.PasswordHash = hash
	}

	var (
		dev   *storage.Device
		token string
	)
	if !req.NoDevice || req.Kind == KindGuest {
		var err error
		if dev, token, err = newDevice(req.DeviceID, req.DeviceDisplayName, req.Kind == KindGuest); err != nil {
			return nil, err
		}
	}
	refresh, err := s.maybeRefreshable(dev, req.RefreshToken)
	if err != nil {
		return nil, err
	}

	for attempt := 1; ; attempt++ {
		user := req.User
		if generated {
			localpart, err := numericLocalpart()
			if err != nil {
				return nil, err
			}
			u, err := spec.NewUserID("@"+localpart+":"+string(domain), true)
			if err != nil {
				return nil, fmt.Errorf("generated user id: %w", err)
			}
			user = *u
		}
		acc.UserID = user.String()
		displayName := req.DisplayName
		if displayName == "" && req.Kind != KindGuest {
			displayName = user.Local()
		}
		if dev != nil {
			dev.UserID = acc.UserID
		}
		err := s.store.CreateAccount(ctx, acc, displayName, dev)
		switch {
		case err == nil:
			if dev == nil {
				return &Session{UserID: user}, nil
			}
			return refresh.session(&Session{UserID: user, DeviceID: dev.DeviceID, AccessToken: token}), nil
		case errors.Is(err, storage.ErrExists) && generated && attempt < generatedIDAttempts:
			continue
		case errors.Is(err, storage.ErrExists):
			return nil, fmt.Errorf("%s: %w", acc.UserID, ErrUserInUse)
		default:
			return nil, fmt.Errorf("register %s: %w", acc.UserID, err)
		}
	}
}

// UpgradeGuest gives a guest account a password, makes it a full account
// and, unless req.NoDevice, logs in a new device. The guest's devices
// stay logged in.
func (s *Server) UpgradeGuest(ctx context.Context, req RegisterRequest) (*Session, error) {
	if !s.isLocal(req.User.Domain()) {
		return nil, fmt.Errorf("%s: %w", req.User.String(), ErrNotGuest)
	}
	hash := ""
	if req.Password != "" {
		var err error
		if hash, err = s.hashPassword(req.Password); err != nil {
			return nil, fmt.Errorf("hash password: %w", err)
		}
	}
	var (
		dev   *storage.Device
		token string
	)
	if !req.NoDevice {
		var err error
		if dev, token, err = newDevice(req.DeviceID, req.DeviceDisplayName, false); err != nil {
			return nil, err
		}
		dev.UserID = req.User.String()
	}
	refresh, err := s.maybeRefreshable(dev, req.RefreshToken)
	if err != nil {
		return nil, err
	}
	displayName := req.DisplayName
	if displayName == "" {
		displayName = req.User.Local()
	}
	stale, err := s.store.UpgradeGuest(ctx, req.User.String(), hash, displayName, dev)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", req.User.String(), ErrNotGuest)
	}
	if err != nil {
		return nil, fmt.Errorf("upgrade %s: %w", req.User.String(), err)
	}
	// Cached devices still say "guest".
	s.revoke(stale)
	if dev == nil {
		return &Session{UserID: req.User}, nil
	}
	return refresh.session(&Session{UserID: req.User, DeviceID: dev.DeviceID, AccessToken: token}), nil
}

// numericLocalpart picks a ten-digit localpart.
func numericLocalpart() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(9_000_000_000))
	if err != nil {
		return "", err
	}
	return n.Add(n, big.NewInt(1_000_000_000)).String(), nil
}

// UsernameAvailable tells whether user could be registered now.
func (s *Server) UsernameAvailable(ctx context.Context, user spec.UserID) (bool, error) {
	if !s.isLocal(user.Domain()) {
		return false, fmt.Errorf("%w: %s is not a local server name", ErrInvalidUsername, user.Domain())
	}
	if err := ValidateLocalpart(user.Local(), user.Domain()); err != nil {
		return false, err
	}
	_, err := s.store.Account(ctx, user.String())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return true, nil
	case err != nil:
		return false, err
	}
	return false, nil
}

// LoginPassword checks the password and logs a new device in.
func (s *Server) LoginPassword(ctx context.Context, req LoginRequest) (*Session, error) {
	if err := s.CheckPassword(ctx, req.User, req.Password); err != nil {
		return nil, err
	}
	return s.newSession(ctx, req.User, req.DeviceID, req.DeviceDisplayName, req.RefreshToken)
}

// newSession logs an authenticated user in on a (new or reused) device.
func (s *Server) newSession(ctx context.Context, user spec.UserID, deviceID, displayName string, wantRefresh bool) (*Session, error) {
	return s.newSessionFrom(ctx, user, deviceID, displayName, wantRefresh, storage.AuthOrigin{})
}

// newSessionFrom is newSession for a login through an identity provider's
// session (origin), which the device keeps.
func (s *Server) newSessionFrom(ctx context.Context, user spec.UserID, deviceID, displayName string, wantRefresh bool, origin storage.AuthOrigin) (*Session, error) {
	dev, token, err := newDevice(deviceID, displayName, false)
	if err != nil {
		return nil, err
	}
	dev.Origin = origin
	refresh, err := s.maybeRefreshable(dev, wantRefresh)
	if err != nil {
		return nil, err
	}
	dev.UserID = user.String()
	// A locked account gets no new access token until it is unlocked.
	if m, err := s.store.Moderation(ctx, user.String()); err == nil && m.Locked {
		return nil, ErrLocked
	}
	replaced, err := s.store.CreateDevice(ctx, dev)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			// The account is missing or was deactivated meanwhile.
			return nil, ErrDeactivated
		}
		return nil, fmt.Errorf("login %s: %w", user.String(), err)
	}
	if replaced != nil {
		s.revoke([]storage.Revoked{*replaced})
	}
	s.deviceListChanged(ctx, user.String(), dev.DeviceID)
	return refresh.session(&Session{UserID: user, DeviceID: dev.DeviceID, AccessToken: token}), nil
}

// CheckPassword returns nil if password is the user's password,
// ErrDeactivated for a deactivated account and ErrBadCredentials otherwise.
func (s *Server) CheckPassword(ctx context.Context, user spec.UserID, password string) error {
	hash := ""
	acc, err := s.store.Account(ctx, user.String())
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return err
	case acc.Deactivated:
		return ErrDeactivated
	default:
		hash = acc.PasswordHash
	}
	if !s.passwordMatches(hash, password) {
		return ErrBadCredentials
	}
	return nil
}

// SetPassword replaces the user's password. With logoutDevices, every
// device but keepDevice is logged out.
func (s *Server) SetPassword(ctx context.Context, user spec.UserID, password string, logoutDevices bool, keepDevice string) error {
	hash, err := s.hashPassword(password)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	revoked, err := s.store.SetPasswordHash(ctx, user.String(), hash, logoutDevices, keepDevice)
	if err != nil {
		return userError(err)
	}
	s.revoke(revoked)
	return nil
}

// Deactivate marks the account deactivated, erases its password and logs
// out all its devices. Leaving rooms is the caller's job.
func (s *Server) Deactivate(ctx context.Context, user spec.UserID) error {
	revoked, err := s.store.Deactivate(ctx, user.String())
	if err != nil {
		return userError(err)
	}
	s.revoke(revoked)
	return nil
}

// Account returns the account's flags.
func (s *Server) Account(ctx context.Context, user spec.UserID) (*Account, error) {
	acc, err := s.store.Account(ctx, user.String())
	if err != nil {
		return nil, userError(err)
	}
	return &Account{
		UserID:      user,
		IsGuest:     acc.IsGuest,
		IsAdmin:     acc.IsAdmin,
		Deactivated: acc.Deactivated,
		HasPassword: acc.PasswordHash != "",
	}, nil
}

// userError turns the store's not-found into the API's, keeping the rest.
func userError(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return notFoundError{err}
	}
	return err
}

// notFoundError keeps the store's message ("device X: not found") and is
// ErrNotFound to callers.
type notFoundError struct{ err error }

func (e notFoundError) Error() string        { return e.err.Error() }
func (e notFoundError) Unwrap() error        { return e.err }
func (e notFoundError) Is(target error) bool { return target == ErrNotFound }

// HasAccounts tells whether anyone but guests has an account yet: the
// binary says how to make the first admin when no one has.
func (s *Server) HasAccounts(ctx context.Context) (bool, error) {
	return s.store.HasAccounts(ctx)
}
