package userapi

import (
	"context"
	"encoding/json"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Device lists across servers, over NATS (device_lists.go,
// remote_devices.go).

func (c *Client) PendingDeviceListUpdates(ctx context.Context, limit int) (out *DeviceListOutbox, err error) {
	err = c.rpc.Call(ctx, "PendingDeviceListUpdates", []any{limit}, &out)
	return
}

func (c *Client) AckDeviceListUpdates(ctx context.Context, from, to int64) error {
	return c.rpc.Call(ctx, "AckDeviceListUpdates", []any{from, to})
}

func (c *Client) FederationDevices(ctx context.Context, user spec.UserID) (out *FederationDeviceList, err error) {
	err = c.rpc.Call(ctx, "FederationDevices", []any{user}, &out)
	return
}

func (c *Client) RemoteDeviceListHeads(ctx context.Context, users []string) (out map[string]RemoteListHead, err error) {
	err = c.rpc.Call(ctx, "RemoteDeviceListHeads", []any{users}, &out)
	return
}

func (c *Client) StoreRemoteDeviceList(ctx context.Context, l RemoteDeviceList) (out bool, err error) {
	err = c.rpc.Call(ctx, "StoreRemoteDeviceList", []any{l}, &out)
	return
}

func (c *Client) ApplyRemoteDeviceUpdate(ctx context.Context, u RemoteDeviceUpdate) (out UpdateOutcome, err error) {
	err = c.rpc.Call(ctx, "ApplyRemoteDeviceUpdate", []any{u}, &out)
	return
}

func (c *Client) ApplyRemoteSigningKeyUpdate(ctx context.Context, user spec.UserID, master, selfSigning json.RawMessage) error {
	return c.rpc.Call(ctx, "ApplyRemoteSigningKeyUpdate", []any{user, master, selfSigning})
}

func (c *Client) NoteRemoteDeviceListChange(ctx context.Context, user spec.UserID) error {
	return c.rpc.Call(ctx, "NoteRemoteDeviceListChange", []any{user})
}

func (c *Client) ForgetRemoteDeviceList(ctx context.Context, user spec.UserID) error {
	return c.rpc.Call(ctx, "ForgetRemoteDeviceList", []any{user})
}

func (c *Client) RemoteQueryKeys(ctx context.Context, requester spec.UserID, cached map[string][]string, fetched *QueryKeysResponse) (out *QueryKeysResponse, err error) {
	err = c.rpc.Call(ctx, "RemoteQueryKeys", []any{requester, cached, fetched}, &out)
	return
}
