package mediaapi

import (
	"context"

	"github.com/nats-io/nats.go"

	"github.com/rohrpost/rohrpost/internal/rpc"
)

// Service is the media API's name on the bus.
const Service = "mediaapi"

// Serve answers API calls from other processes with api.
func Serve(nc *nats.Conn, api API) (*rpc.Server, error) {
	return rpc.Serve[API](nc, Service, api, nil)
}

// Client is the media API of another process, called over NATS.
type Client struct{ rpc *rpc.Client }

var _ API = (*Client)(nil)

// NewClient calls the media API over nc.
func NewClient(nc *nats.Conn) *Client {
	return &Client{rpc: rpc.NewClient(nc, Service, nil)}
}

func (c *Client) FederationMedia(ctx context.Context, req FederationMediaRequest) (out *FederationMedia, err error) {
	err = c.rpc.Call(ctx, "FederationMedia", []any{req}, &out)
	return
}

func (c *Client) ReadFile(ctx context.Context, file string, offset int64, n int) (out []byte, err error) {
	err = c.rpc.Call(ctx, "ReadFile", []any{file, offset, n}, &out)
	return
}
