package userapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/userapi/storage"
)

func nowMillis() int64 { return time.Now().UnixMilli() }

// VerifyAccessToken returns the device the token belongs to, or
// ErrUnknownToken. Known tokens are answered from memory.
func (s *Server) VerifyAccessToken(ctx context.Context, token string) (*Device, error) {
	h := hashToken(token)
	if dev, ok := s.tokens.get(h); ok {
		if dev.Expired(time.Now()) {
			return nil, ErrTokenExpired
		}
		cp := *dev
		return &cp, nil
	}
	epoch := s.tokens.begin()
	o, err := s.store.TokenOwner(ctx, h[:])
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrUnknownToken
	}
	if err != nil {
		return nil, err
	}
	user, err := spec.NewUserID(o.UserID, true)
	if err != nil {
		return nil, fmt.Errorf("stored user id %q: %w", o.UserID, err)
	}
	dev := &Device{
		UserID:       *user,
		ID:           o.DeviceID,
		DisplayName:  o.DisplayName,
		IsGuest:      o.IsGuest,
		IsAdmin:      o.IsAdmin,
		Locked:       o.Locked,
		Suspended:    o.Suspended,
		SessionID:    o.SessionID,
		ExpiresTS:    o.ExpiresTS,
		RateOverride: o.RateOverride,
		ShadowBanned: o.ShadowBanned,
	}
	if dev.Expired(time.Now()) {
		return nil, ErrTokenExpired
	}
	if o.RefreshPending {
		// The first use of a refreshed token: the refresh token that
		// gave it is spent.
		if err := s.store.ConfirmRefresh(ctx, o.SessionID, h[:]); err != nil {
			return nil, err
		}
	}
	s.tokens.put(h, dev, epoch)
	cp := *dev
	return &cp, nil
}

// Refresh spends a refresh token: the device gets a new access token
// (which expires after the configured lifetime) and a new refresh token,
// and keeps its session. The access token it had stops working at once;
// the refresh token used stays valid until one of the new tokens is used,
// so that a client that lost the answer can refresh again.
func (s *Server) Refresh(ctx context.Context, refreshToken string) (*Session, error) {
	used := hashToken(refreshToken)
	token, tokenHash, err := newAccessToken()
	if err != nil {
		return nil, err
	}
	refresh, refreshHash, err := newRefreshToken()
	if err != nil {
		return nil, err
	}
	lifetime := time.Duration(s.cfg.RefreshableAccessTokenLifetime)
	r, err := s.store.RefreshDevice(ctx, used[:], tokenHash, refreshHash, time.Now().Add(lifetime).UnixMilli())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, ErrUnknownToken
	case errors.Is(err, storage.ErrRefreshLocked):
		return nil, ErrLocked
	case err != nil:
		return nil, err
	}
	s.forgetTokens(r.OldTokenHash)
	user, err := spec.NewUserID(r.UserID, true)
	if err != nil {
		return nil, fmt.Errorf("stored user id %q: %w", r.UserID, err)
	}
	return &Session{UserID: *user, DeviceID: r.DeviceID, AccessToken: token, RefreshToken: refresh, ExpiresInMs: lifetime.Milliseconds()}, nil
}

// revoke drops logged-out devices from the caches.
func (s *Server) revoke(revoked []storage.Revoked) {
	if len(revoked) == 0 {
		return
	}
	s.publishDevicesDeleted(revoked)
	s.dropDeviceKeys(revoked)
	hashes := make([][]byte, len(revoked))
	for i, r := range revoked {
		hashes[i] = r.TokenHash
	}
	s.forgetTokens(hashes...)
	s.seen.forget(revoked)
}

// Logout deletes the device that made the request.
func (s *Server) Logout(ctx context.Context, device *Device) error {
	revoked, err := s.store.DeleteSession(ctx, device.SessionID)
	if err != nil {
		return err
	}
	s.revoke(revoked)
	return nil
}

// LogoutAll deletes all the user's devices.
func (s *Server) LogoutAll(ctx context.Context, user spec.UserID) error {
	revoked, err := s.store.DeleteAllDevices(ctx, user.String())
	if err != nil {
		return err
	}
	s.revoke(revoked)
	return nil
}

// Devices lists the user's devices; never nil.
func (s *Server) Devices(ctx context.Context, user spec.UserID) ([]DeviceInfo, error) {
	devs, err := s.store.Devices(ctx, user.String())
	if err != nil {
		return nil, err
	}
	out := make([]DeviceInfo, len(devs))
	for i := range devs {
		out[i] = deviceInfo(&devs[i])
	}
	return out, nil
}

// Device returns one of the user's devices.
func (s *Server) Device(ctx context.Context, user spec.UserID, deviceID string) (*DeviceInfo, error) {
	d, err := s.store.Device(ctx, user.String(), deviceID)
	if err != nil {
		return nil, userError(err)
	}
	info := deviceInfo(d)
	return &info, nil
}

func deviceInfo(d *storage.Device) DeviceInfo {
	info := DeviceInfo{DeviceID: d.DeviceID, DisplayName: d.DisplayName, LastSeenUserAgent: d.LastSeenUserAgent}
	if d.LastSeenTS != 0 {
		ts, ip := d.LastSeenTS, d.LastSeenIP
		info.LastSeenTS, info.LastSeenIP = &ts, &ip
	}
	return info
}

// UpdateDevice renames a device; a nil name changes nothing but still
// fails with ErrNotFound for an unknown device.
func (s *Server) UpdateDevice(ctx context.Context, user spec.UserID, deviceID string, displayName *string) error {
	if displayName == nil {
		_, err := s.store.Device(ctx, user.String(), deviceID)
		return userError(err)
	}
	d, err := s.store.SetDeviceName(ctx, user.String(), deviceID, *displayName)
	if err != nil {
		return userError(err)
	}
	// The cached device carries the old name.
	s.forgetTokens(d.TokenHash)
	s.deviceListChanged(ctx, user.String(), deviceID)
	return nil
}

// DeleteDevices logs out the named devices; unknown ids are ignored.
func (s *Server) DeleteDevices(ctx context.Context, user spec.UserID, deviceIDs []string) error {
	revoked, err := s.store.DeleteDevices(ctx, user.String(), deviceIDs)
	if err != nil {
		return err
	}
	s.revoke(revoked)
	return nil
}

// seenInterval is how stale a device's last-seen record may get: a device
// that keeps its address and client is written at most this often.
const seenInterval = time.Minute

type seen struct {
	ip, userAgent string
	at            time.Time
}

// seenDevices remembers what was last written for each session.
type seenDevices struct {
	mu   sync.Mutex
	last map[int64]seen
}

// changed records a request and tells whether it is worth storing: a new
// address or client, or the last record is old.
func (d *seenDevices) changed(session int64, ip, userAgent string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev, ok := d.last[session]
	if ok && prev.ip == ip && prev.userAgent == userAgent && now.Sub(prev.at) < seenInterval {
		return false
	}
	d.last[session] = seen{ip: ip, userAgent: userAgent, at: now}
	return true
}

func (d *seenDevices) forget(revoked []storage.Revoked) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range revoked {
		delete(d.last, r.SessionID)
	}
}

// DeviceSeen records the request in the device's last-seen fields. Only
// a change of address or client, or a minute passing, costs a write.
func (s *Server) DeviceSeen(ctx context.Context, dev *Device, ip, userAgent string) error {
	now := time.Now()
	if !s.seen.changed(dev.SessionID, ip, userAgent, now) {
		return nil
	}
	if err := s.store.TouchDevice(ctx, dev.SessionID, now.UnixMilli(), ip, userAgent); err != nil {
		slog.Warn("record device last seen", "user", dev.UserID.String(), "device", dev.ID, "err", err)
		return err
	}
	return nil
}
