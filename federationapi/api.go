package federationapi

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// API is what other components ask of the federation API: acting for a
// local user towards other servers.
type API interface {
	// JoinRemoteRoom joins a local user to a room through one of the
	// given servers (make_join/send_join) and stores the room.
	JoinRemoteRoom(ctx context.Context, req JoinRequest) (*JoinResponse, error)
	// InviteRemote invites a user of another server into a local room;
	// it returns the invite's event id.
	InviteRemote(ctx context.Context, req InviteRequest) (string, error)
	// LeaveRemoteRoom makes a local user leave (or reject an invite to) a
	// room no local user is joined to, through a server that is.
	LeaveRemoteRoom(ctx context.Context, req LeaveRequest) error
	// QueryDirectory resolves an alias of another server.
	QueryDirectory(ctx context.Context, alias string) (*DirectoryResponse, error)
	// QueryProfile asks another server for a user's profile; field ""
	// means all of it.
	QueryProfile(ctx context.Context, user spec.UserID, field string) (map[string]any, error)
}

// Errors that keep their identity across processes.
var (
	// ErrNoServer means no server could be reached or would let us in.
	ErrNoServer = errors.New("no server could be reached")
	// ErrNotAllowed means the policy forbids talking to the server.
	ErrNotAllowed = errors.New("federation with this server is not allowed")
	ErrNotFound   = errors.New("not found")
)

// JoinRequest is a local user joining a room that lives elsewhere.
type JoinRequest struct {
	UserID  spec.UserID
	RoomID  string
	Servers []spec.ServerName
	// Content is the member event content besides membership.
	Content map[string]any
}

type JoinResponse struct {
	RoomID  string
	EventID string
}

// DirectoryResponse is what an alias resolves to.
type DirectoryResponse struct {
	RoomID  string
	Servers []spec.ServerName
}

// InviteRequest is a local user inviting a user of another server.
type InviteRequest struct {
	RoomID  string
	Sender  spec.UserID
	Target  spec.UserID
	Content json.RawMessage
}

// LeaveRequest is a local user leaving a room that lives elsewhere.
type LeaveRequest struct {
	UserID  spec.UserID
	RoomID  string
	Servers []spec.ServerName
	Content map[string]any
}
