package roomserver

import "context"

// The admin API's calls (admin.go) over NATS.

func (c *Client) PurgeRoom(ctx context.Context, roomID string) error {
	return c.rpc.Call(ctx, "PurgeRoom", []any{roomID})
}

func (c *Client) PurgeHistory(ctx context.Context, req PurgeHistoryRequest) error {
	return c.rpc.Call(ctx, "PurgeHistory", []any{req})
}

func (c *Client) MoveAliases(ctx context.Context, from, to string) (out []string, err error) {
	err = c.rpc.Call(ctx, "MoveAliases", []any{from, to}, &out)
	return
}

func (c *Client) RoomMemberships(ctx context.Context, roomID string) (out map[string]string, err error) {
	err = c.rpc.Call(ctx, "RoomMemberships", []any{roomID}, &out)
	return
}

func (c *Client) DropExtremities(ctx context.Context, roomID string) (out int, err error) {
	err = c.rpc.Call(ctx, "DropExtremities", []any{roomID}, &out)
	return
}
