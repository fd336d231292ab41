package federationapi

import (
	"context"
	"encoding/json"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go"

	"github.com/rohrpost/rohrpost/internal/rpc"
	"github.com/rohrpost/rohrpost/roomserver"
)

// Service is the federation API's name on the bus.
const Service = "federationapi"

// Sentinels are the errors that keep their identity across processes.
var Sentinels = []error{ErrNoServer, ErrNotAllowed, ErrNotFound}

// Serve answers API calls from other processes with api.
func Serve(nc *nats.Conn, api API) (*rpc.Server, error) {
	return rpc.Serve[API](nc, Service, api, Sentinels)
}

// Client is the federation API of another process, called over NATS.
type Client struct{ rpc *rpc.Client }

var _ API = (*Client)(nil)

// NewClient calls the federation API over nc.
func NewClient(nc *nats.Conn) *Client {
	return &Client{rpc: rpc.NewClient(nc, Service, Sentinels)}
}

func (c *Client) JoinRemoteRoom(ctx context.Context, req JoinRequest) (out *JoinResponse, err error) {
	err = c.rpc.Call(ctx, "JoinRemoteRoom", []any{req}, &out)
	return
}

func (c *Client) QueryDirectory(ctx context.Context, alias string) (out *DirectoryResponse, err error) {
	err = c.rpc.Call(ctx, "QueryDirectory", []any{alias}, &out)
	return
}

func (c *Client) QueryProfile(ctx context.Context, user spec.UserID, field string) (out map[string]any, err error) {
	err = c.rpc.Call(ctx, "QueryProfile", []any{user, field}, &out)
	return
}

func (c *Client) InviteRemote(ctx context.Context, req InviteRequest) (out string, err error) {
	err = c.rpc.Call(ctx, "InviteRemote", []any{req}, &out)
	return
}

func (c *Client) LeaveRemoteRoom(ctx context.Context, req MembershipRequest) error {
	return c.rpc.Call(ctx, "LeaveRemoteRoom", []any{req})
}

func (c *Client) BackfillRoom(ctx context.Context, roomID string, limit int) (out int, err error) {
	err = c.rpc.Call(ctx, "BackfillRoom", []any{roomID, limit}, &out)
	return
}

func (c *Client) FillHole(ctx context.Context, roomID, eventID string, limit int) (out int, err error) {
	err = c.rpc.Call(ctx, "FillHole", []any{roomID, eventID, limit}, &out)
	return
}

func (c *Client) PublicRooms(ctx context.Context, server spec.ServerName, limit int, since, term string) (out *roomserver.PublicRoomsPage, err error) {
	err = c.rpc.Call(ctx, "PublicRooms", []any{server, limit, since, term}, &out)
	return
}

func (c *Client) QueryRemoteKeys(ctx context.Context, req RemoteKeysRequest) (out *RemoteKeysResponse, err error) {
	err = c.rpc.Call(ctx, "QueryRemoteKeys", []any{req}, &out)
	return
}

func (c *Client) ClaimRemoteKeys(ctx context.Context, req RemoteClaimRequest) (out *RemoteClaimResponse, err error) {
	err = c.rpc.Call(ctx, "ClaimRemoteKeys", []any{req}, &out)
	return
}

func (c *Client) SendToDevice(ctx context.Context, sender spec.UserID, evType, messageID string, messages map[string]map[string]json.RawMessage) error {
	return c.rpc.Call(ctx, "SendToDevice", []any{sender, evType, messageID, messages})
}

func (c *Client) KnockRemote(ctx context.Context, req MembershipRequest) error {
	return c.rpc.Call(ctx, "KnockRemote", []any{req})
}

func (c *Client) RemoteHierarchy(ctx context.Context, req RemoteHierarchyRequest) (out *RemoteHierarchy, err error) {
	err = c.rpc.Call(ctx, "RemoteHierarchy", []any{req}, &out)
	return
}

func (c *Client) RemoteTimestampToEvent(ctx context.Context, roomID string, ts int64, forwards bool) (out *roomserver.TimestampEvent, err error) {
	err = c.rpc.Call(ctx, "RemoteTimestampToEvent", []any{roomID, ts, forwards}, &out)
	return
}
