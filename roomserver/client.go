package roomserver

import (
	"context"
	"encoding/json"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go"
	"github.com/rohrpost/rohrpost/internal/rpc"
)

// Service is the roomserver's name on the bus.
const Service = "roomserver"

// Sentinels are the errors that keep their identity across processes.
var Sentinels = []error{ErrBadPagination, ErrRoomNotFound, ErrEventNotFound, ErrForbidden, ErrTooLarge, ErrBadEvent,
	ErrUnsupportedVersion, ErrAliasExists, ErrAliasNotFound, ErrBadState, ErrMissingPrevEvents, ErrMissingAuthEvents}

// Serve answers API calls from other processes with api.
func Serve(nc *nats.Conn, api API) (*rpc.Server, error) {
	return rpc.Serve[API](nc, Service, api, Sentinels)
}

// Client is the roomserver API of another process, called over NATS.
type Client struct{ rpc *rpc.Client }

var _ API = (*Client)(nil)

// NewClient calls the roomserver over nc.
func NewClient(nc *nats.Conn) *Client {
	return &Client{rpc: rpc.NewClient(nc, Service, Sentinels)}
}

func (c *Client) CreateRoom(ctx context.Context, req CreateRoomRequest) (out *CreateRoomResponse, err error) {
	err = c.rpc.Call(ctx, "CreateRoom", []any{req}, &out)
	return
}

func (c *Client) SendEvent(ctx context.Context, req SendEventRequest) (out *SendEventResponse, err error) {
	err = c.rpc.Call(ctx, "SendEvent", []any{req}, &out)
	return
}

func (c *Client) InputEvents(ctx context.Context, events []InputEvent) (out []InputResult, err error) {
	err = c.rpc.Call(ctx, "InputEvents", []any{events}, &out)
	return
}

func (c *Client) RoomVersion(ctx context.Context, roomID string) (out string, err error) {
	err = c.rpc.Call(ctx, "RoomVersion", []any{roomID}, &out)
	return
}

func (c *Client) CurrentState(ctx context.Context, roomID string) (out []json.RawMessage, err error) {
	err = c.rpc.Call(ctx, "CurrentState", []any{roomID}, &out)
	return
}

func (c *Client) StateEvent(ctx context.Context, roomID string, evType string, stateKey string) (out *StateEvent, err error) {
	err = c.rpc.Call(ctx, "StateEvent", []any{roomID, evType, stateKey}, &out)
	return
}

func (c *Client) Membership(ctx context.Context, roomID string, user spec.UserID) (out string, err error) {
	err = c.rpc.Call(ctx, "Membership", []any{roomID, user}, &out)
	return
}

func (c *Client) JoinedMembers(ctx context.Context, roomID string) (out map[string]MemberProfile, err error) {
	err = c.rpc.Call(ctx, "JoinedMembers", []any{roomID}, &out)
	return
}

func (c *Client) JoinedRooms(ctx context.Context, user spec.UserID) (out []string, err error) {
	err = c.rpc.Call(ctx, "JoinedRooms", []any{user}, &out)
	return
}

func (c *Client) ForgetRoom(ctx context.Context, roomID string, user spec.UserID) error {
	return c.rpc.Call(ctx, "ForgetRoom", []any{roomID, user})
}

func (c *Client) RoomSummary(ctx context.Context, roomID string, user spec.UserID) (out *Summary, err error) {
	err = c.rpc.Call(ctx, "RoomSummary", []any{roomID, user}, &out)
	return
}

func (c *Client) Event(ctx context.Context, eventID string) (out *Event, err error) {
	err = c.rpc.Call(ctx, "Event", []any{eventID}, &out)
	return
}

func (c *Client) PutAlias(ctx context.Context, alias string, roomID string, creator spec.UserID) error {
	return c.rpc.Call(ctx, "PutAlias", []any{alias, roomID, creator})
}

func (c *Client) ResolveAlias(ctx context.Context, alias string) (out string, err error) {
	err = c.rpc.Call(ctx, "ResolveAlias", []any{alias}, &out)
	return
}

func (c *Client) DeleteAlias(ctx context.Context, alias string, user spec.UserID) error {
	return c.rpc.Call(ctx, "DeleteAlias", []any{alias, user})
}

func (c *Client) RoomAliases(ctx context.Context, roomID string) (out []string, err error) {
	err = c.rpc.Call(ctx, "RoomAliases", []any{roomID}, &out)
	return
}

func (c *Client) SetVisibility(ctx context.Context, roomID string, visibility string) error {
	return c.rpc.Call(ctx, "SetVisibility", []any{roomID, visibility})
}

func (c *Client) Visibility(ctx context.Context, roomID string) (out string, err error) {
	err = c.rpc.Call(ctx, "Visibility", []any{roomID}, &out)
	return
}

func (c *Client) PublicRooms(ctx context.Context) (out []PublicRoom, err error) {
	err = c.rpc.Call(ctx, "PublicRooms", nil, &out)
	return
}

func (c *Client) SearchMembers(ctx context.Context, req SearchMembersRequest) (out *SearchMembersResponse, err error) {
	err = c.rpc.Call(ctx, "SearchMembers", []any{req}, &out)
	return
}

func (c *Client) FollowUpgrade(ctx context.Context, oldID, newID string) error {
	return c.rpc.Call(ctx, "FollowUpgrade", []any{oldID, newID})
}

func (c *Client) UpgradeRoom(ctx context.Context, roomID string, user spec.UserID, newVersion string, additionalCreators []spec.UserID) (out string, err error) {
	err = c.rpc.Call(ctx, "UpgradeRoom", []any{roomID, user, newVersion, additionalCreators}, &out)
	return
}

func (c *Client) SpaceHierarchy(ctx context.Context, req HierarchyRequest) (out *HierarchyResponse, err error) {
	err = c.rpc.Call(ctx, "SpaceHierarchy", []any{req}, &out)
	return
}

func (c *Client) DescribeRoom(ctx context.Context, roomID, user string) (out json.RawMessage, err error) {
	err = c.rpc.Call(ctx, "DescribeRoom", []any{roomID, user}, &out)
	return
}

func (c *Client) EventTemplate(ctx context.Context, req TemplateRequest) (out *TemplateResponse, err error) {
	err = c.rpc.Call(ctx, "EventTemplate", []any{req}, &out)
	return
}

func (c *Client) StateBefore(ctx context.Context, roomID, eventID string) (out *RoomState, err error) {
	err = c.rpc.Call(ctx, "StateBefore", []any{roomID, eventID}, &out)
	return
}

func (c *Client) CurrentRoomState(ctx context.Context, roomID string) (out *RoomState, err error) {
	err = c.rpc.Call(ctx, "CurrentRoomState", []any{roomID}, &out)
	return
}

func (c *Client) EventsByID(ctx context.Context, roomID string, ids []string) (out []gomatrixserverlib.PDU, err error) {
	err = c.rpc.Call(ctx, "EventsByID", []any{roomID, ids}, &out)
	return
}

func (c *Client) RoomOfEvent(ctx context.Context, eventID string) (out string, err error) {
	err = c.rpc.Call(ctx, "RoomOfEvent", []any{eventID}, &out)
	return
}

func (c *Client) EventAuthChain(ctx context.Context, roomID, eventID string) (out []gomatrixserverlib.PDU, err error) {
	err = c.rpc.Call(ctx, "EventAuthChain", []any{roomID, eventID}, &out)
	return
}

func (c *Client) WalkBack(ctx context.Context, req WalkRequest) (out []gomatrixserverlib.PDU, err error) {
	err = c.rpc.Call(ctx, "WalkBack", []any{req}, &out)
	return
}

func (c *Client) ServersInRoom(ctx context.Context, roomID string) (out []spec.ServerName, err error) {
	err = c.rpc.Call(ctx, "ServersInRoom", []any{roomID}, &out)
	return
}

func (c *Client) ImportJoin(ctx context.Context, req ImportJoinRequest) (out *InputResult, err error) {
	err = c.rpc.Call(ctx, "ImportJoin", []any{req}, &out)
	return
}

func (c *Client) Extremities(ctx context.Context, roomID string) (out []string, err error) {
	err = c.rpc.Call(ctx, "Extremities", []any{roomID}, &out)
	return
}

func (c *Client) BuildEvent(ctx context.Context, req SendEventRequest) (out gomatrixserverlib.PDU, err error) {
	err = c.rpc.Call(ctx, "BuildEvent", []any{req}, &out)
	return
}

func (c *Client) StoreOutOfRoomMembership(ctx context.Context, pdu gomatrixserverlib.PDU) (out *InputResult, err error) {
	err = c.rpc.Call(ctx, "StoreOutOfRoomMembership", []any{pdu}, &out)
	return
}

func (c *Client) EarliestEvent(ctx context.Context, roomID string) (out *Event, err error) {
	err = c.rpc.Call(ctx, "EarliestEvent", []any{roomID}, &out)
	return
}

func (c *Client) Backfill(ctx context.Context, roomID string, pdus []gomatrixserverlib.PDU) (out *BackfillResult, err error) {
	err = c.rpc.Call(ctx, "Backfill", []any{roomID, pdus}, &out)
	return
}

func (c *Client) HoleBelow(ctx context.Context, roomID, eventID string) (out *Hole, err error) {
	err = c.rpc.Call(ctx, "HoleBelow", []any{roomID, eventID}, &out)
	return
}

func (c *Client) FillHole(ctx context.Context, roomID, eventID string, pdus []gomatrixserverlib.PDU) (out *BackfillResult, err error) {
	err = c.rpc.Call(ctx, "FillHole", []any{roomID, eventID, pdus}, &out)
	return
}

func (c *Client) SharedServers(ctx context.Context, user spec.UserID) (out []spec.ServerName, err error) {
	err = c.rpc.Call(ctx, "SharedServers", []any{user}, &out)
	return
}

func (c *Client) SharedWithLocalSince(ctx context.Context, users []string) (out *SharedSince, err error) {
	err = c.rpc.Call(ctx, "SharedWithLocalSince", []any{users}, &out)
	return
}

func (c *Client) HistoryForServer(ctx context.Context, roomID string, server spec.ServerName, eventIDs []string) (out *ServerHistory, err error) {
	err = c.rpc.Call(ctx, "HistoryForServer", []any{roomID, server, eventIDs}, &out)
	return
}

func (c *Client) ServerHierarchy(ctx context.Context, req ServerHierarchyRequest) (out *ServerHierarchyResponse, err error) {
	err = c.rpc.Call(ctx, "ServerHierarchy", []any{req}, &out)
	return
}

func (c *Client) EventsNearTimestamp(ctx context.Context, roomID string, ts int64, forwards bool, limit int) (out []TimestampEvent, err error) {
	err = c.rpc.Call(ctx, "EventsNearTimestamp", []any{roomID, ts, forwards, limit}, &out)
	return
}
