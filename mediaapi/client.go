package mediaapi

import (
	"context"

	"github.com/nats-io/nats.go"

	"github.com/rohrpost/rohrpost/internal/rpc"
	"github.com/rohrpost/rohrpost/mediaapi/storage"
)

// Service is the media API's name on the bus.
const Service = "mediaapi"

// Sentinels are the errors that keep their identity across processes.
var Sentinels = []error{ErrNotFound}

// Serve answers API calls from other processes with api.
func Serve(nc *nats.Conn, api API) (*rpc.Server, error) {
	return rpc.Serve[API](nc, Service, api, Sentinels)
}

// Client is the media API of another process, called over NATS.
type Client struct{ rpc *rpc.Client }

var _ API = (*Client)(nil)

// NewClient calls the media API over nc.
func NewClient(nc *nats.Conn) *Client {
	return &Client{rpc: rpc.NewClient(nc, Service, Sentinels)}
}

func (c *Client) FederationMedia(ctx context.Context, req FederationMediaRequest) (out *FederationMedia, err error) {
	err = c.rpc.Call(ctx, "FederationMedia", []any{req}, &out)
	return
}

func (c *Client) ReadFile(ctx context.Context, file string, offset int64, n int) (out []byte, err error) {
	err = c.rpc.Call(ctx, "ReadFile", []any{file, offset, n}, &out)
	return
}

func (c *Client) QuarantineMedia(ctx context.Context, refs []storage.Ref, admin string) (out int, err error) {
	err = c.rpc.Call(ctx, "QuarantineMedia", []any{refs, admin}, &out)
	return
}

func (c *Client) QuarantineUploads(ctx context.Context, uploader, admin string) (out int, err error) {
	err = c.rpc.Call(ctx, "QuarantineUploads", []any{uploader, admin}, &out)
	return
}

func (c *Client) UnquarantineMedia(ctx context.Context, ref storage.Ref) error {
	return c.rpc.Call(ctx, "UnquarantineMedia", []any{ref})
}

func (c *Client) ProtectMedia(ctx context.Context, ref storage.Ref, protect bool) error {
	return c.rpc.Call(ctx, "ProtectMedia", []any{ref, protect})
}

func (c *Client) DeleteMedia(ctx context.Context, refs []storage.Ref) (out []string, err error) {
	err = c.rpc.Call(ctx, "DeleteMedia", []any{refs}, &out)
	return
}

func (c *Client) DeleteOldMedia(ctx context.Context, beforeTS, sizeGT int64, keep []storage.Ref) (out []string, err error) {
	err = c.rpc.Call(ctx, "DeleteOldMedia", []any{beforeTS, sizeGT, keep}, &out)
	return
}

func (c *Client) PurgeRemoteMedia(ctx context.Context, beforeTS int64) (out int, err error) {
	err = c.rpc.Call(ctx, "PurgeRemoteMedia", []any{beforeTS}, &out)
	return
}
