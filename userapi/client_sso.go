package userapi

import (
	"context"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/userapi/storage"
)

func (c *Client) SSOUser(ctx context.Context, req SSOUserRequest) (out spec.UserID, err error) {
	err = c.rpc.Call(ctx, "SSOUser", []any{req}, &out)
	return
}

func (c *Client) ExternalIDUser(ctx context.Context, authProvider, externalID string) (out spec.UserID, err error) {
	err = c.rpc.Call(ctx, "ExternalIDUser", []any{authProvider, externalID}, &out)
	return
}

func (c *Client) ExternalIDs(ctx context.Context, user spec.UserID) (out []storage.ExternalID, err error) {
	err = c.rpc.Call(ctx, "ExternalIDs", []any{user}, &out)
	return
}

func (c *Client) CreateSSOLoginToken(ctx context.Context, user spec.UserID, origin storage.AuthOrigin) (out string, err error) {
	err = c.rpc.Call(ctx, "CreateSSOLoginToken", []any{user, origin}, &out)
	return
}

// LogoutSSOSessions clears the token cache as Logout does: the devices it
// logged out must stop working here at once.
func (c *Client) LogoutSSOSessions(ctx context.Context, authProvider, session, user string) (out int, err error) {
	defer c.tokens.clear()
	err = c.rpc.Call(ctx, "LogoutSSOSessions", []any{authProvider, session, user}, &out)
	return
}
