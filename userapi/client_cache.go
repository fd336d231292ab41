package userapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go"
	"github.com/rohrpost/rohrpost/internal/bus"
)

// Every authenticated request checks its token and notes the device as
// seen. Over NATS those would be two round trips per request, so the
// client keeps the answers as the server does: token checks until a
// revocation is broadcast, last-seen notes only when they changed.

// VerifyAccessToken answers known tokens from memory.
func (c *Client) VerifyAccessToken(ctx context.Context, token string) (*Device, error) {
	h := hashToken(token)
	if dev, ok := c.tokens.get(h); ok {
		if dev.Expired(time.Now()) {
			return nil, ErrTokenExpired
		}
		cp := *dev
		return &cp, nil
	}
	epoch := c.tokens.begin()
	var dev *Device
	if err := c.rpc.Call(ctx, "VerifyAccessToken", []any{token}, &dev); err != nil {
		return nil, err
	}
	c.tokens.put(h, dev, epoch)
	cp := *dev
	return &cp, nil
}

func (c *Client) DeviceSeen(ctx context.Context, dev *Device, ip string, userAgent string) error {
	if !c.seen.changed(dev.SessionID, ip, userAgent, time.Now()) {
		return nil
	}
	return c.rpc.Call(ctx, "DeviceSeen", []any{dev, ip, userAgent})
}

// The calls below revoke tokens. The server broadcasts which; this
// process also drops its whole cache at once, so that its own next request
// cannot use a revoked token even before the broadcast arrives.

func (c *Client) Logout(ctx context.Context, device *Device) error {
	defer c.tokens.clear()
	return c.rpc.Call(ctx, "Logout", []any{device})
}

func (c *Client) LogoutAll(ctx context.Context, user spec.UserID) error {
	defer c.tokens.clear()
	return c.rpc.Call(ctx, "LogoutAll", []any{user})
}

func (c *Client) DeleteDevices(ctx context.Context, user spec.UserID, deviceIDs []string) error {
	defer c.tokens.clear()
	return c.rpc.Call(ctx, "DeleteDevices", []any{user, deviceIDs})
}

func (c *Client) SetPassword(ctx context.Context, user spec.UserID, password string, logoutDevices bool, keepDevice string) error {
	defer c.tokens.clear()
	return c.rpc.Call(ctx, "SetPassword", []any{user, password, logoutDevices, keepDevice})
}

func (c *Client) SetAccountModeration(ctx context.Context, user spec.UserID, locked, suspended *bool) (out *AccountModeration, err error) {
	defer c.tokens.clear()
	err = c.rpc.Call(ctx, "SetAccountModeration", []any{user, locked, suspended}, &out)
	return
}

func (c *Client) Deactivate(ctx context.Context, user spec.UserID) error {
	defer c.tokens.clear()
	return c.rpc.Call(ctx, "Deactivate", []any{user})
}

// Logging in (or registering) with an existing device id replaces that
// device's token.

func (c *Client) Register(ctx context.Context, req RegisterRequest) (out *Session, err error) {
	defer c.tokens.clear()
	err = c.rpc.Call(ctx, "Register", []any{req}, &out)
	return
}

func (c *Client) UpgradeGuest(ctx context.Context, req RegisterRequest) (out *Session, err error) {
	defer c.tokens.clear()
	err = c.rpc.Call(ctx, "UpgradeGuest", []any{req}, &out)
	return
}

func (c *Client) LoginPassword(ctx context.Context, req LoginRequest) (out *Session, err error) {
	defer c.tokens.clear()
	err = c.rpc.Call(ctx, "LoginPassword", []any{req}, &out)
	return
}

func (c *Client) LoginToken(ctx context.Context, token, deviceID, displayName string, refresh bool) (out *Session, err error) {
	defer c.tokens.clear()
	err = c.rpc.Call(ctx, "LoginToken", []any{token, deviceID, displayName, refresh}, &out)
	return
}

// Refresh replaces the device's access token.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (out *Session, err error) {
	defer c.tokens.clear()
	err = c.rpc.Call(ctx, "Refresh", []any{refreshToken}, &out)
	return
}

func (c *Client) UpdateDevice(ctx context.Context, user spec.UserID, deviceID string, displayName *string) error {
	defer c.tokens.clear()
	return c.rpc.Call(ctx, "UpdateDevice", []any{user, deviceID, displayName})
}

// followForgottenTokens applies the user API's revocations.
func (c *Client) followForgottenTokens(nc *nats.Conn) {
	_, err := nc.Subscribe(bus.TokensForgottenSubject, func(m *nats.Msg) {
		var f tokensForgotten
		if err := json.Unmarshal(m.Data, &f); err != nil {
			slog.Warn("userapi client: bad forgotten tokens", "err", err)
			return
		}
		c.tokens.forget(f.Hashes...)
	})
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		// Without the broadcast a revoked token could stay valid here:
		// cache nothing rather than risk that.
		slog.Error("userapi client: cannot follow token revocations; not caching tokens", "err", err)
		c.tokens.disabled = true
	}
}
