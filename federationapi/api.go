package federationapi

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/roomserver"
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
	LeaveRemoteRoom(ctx context.Context, req MembershipRequest) error
	// KnockRemote knocks for a local user on a room no local user is in,
	// through a server that is.
	KnockRemote(ctx context.Context, req MembershipRequest) error
	// BackfillRoom fetches history older than the oldest event we hold
	// of a room from the other servers in it; it returns how many events
	// were stored, 0 when there is no more.
	BackfillRoom(ctx context.Context, roomID string, limit int) (int, error)
	// FillHole fetches history missing right below an event of a room's
	// timeline (roomserver/holes.go) from the other servers in it; it
	// returns how many events were stored, 0 when none had more.
	FillHole(ctx context.Context, roomID, eventID string, limit int) (int, error)
	// RemoteHierarchy asks other servers about a room of a space tree
	// (hierarchy.go); RemoteTimestampToEvent asks the other servers in a
	// room for the event nearest a time (timestamp.go).
	RemoteHierarchy(ctx context.Context, req RemoteHierarchyRequest) (*RemoteHierarchy, error)
	RemoteTimestampToEvent(ctx context.Context, roomID string, ts int64, forwards bool) (*roomserver.TimestampEvent, error)
	// PublicRooms reads a page of another server's room directory.
	PublicRooms(ctx context.Context, server spec.ServerName, limit int, since, term string) (*roomserver.PublicRoomsPage, error)
	// QueryDirectory resolves an alias of another server.
	QueryDirectory(ctx context.Context, alias string) (*DirectoryResponse, error)
	// QueryProfile asks another server for a user's profile; field ""
	// means all of it.
	QueryProfile(ctx context.Context, user spec.UserID, field string) (map[string]any, error)
	// QueryRemoteKeys, ClaimRemoteKeys and SendToDevice act for local
	// users towards other servers' users' devices (e2ee_remote.go,
	// todevice.go).
	QueryRemoteKeys(ctx context.Context, req RemoteKeysRequest) (*RemoteKeysResponse, error)
	ClaimRemoteKeys(ctx context.Context, req RemoteClaimRequest) (*RemoteClaimResponse, error)
	SendToDevice(ctx context.Context, sender spec.UserID, evType, messageID string, messages map[string]map[string]json.RawMessage) error
	// ResetDestination ends the send queue's backoff from a server (the
	// admin API's reset_connection); ErrNotFound if nothing was ever
	// queued for it.
	ResetDestination(ctx context.Context, destination spec.ServerName) error
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
	// Content is the member event content besides membership (JSON, so
	// that it crosses processes as it is).
	Content json.RawMessage
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

// MembershipRequest is a local user leaving or knocking on a room that
// lives elsewhere.
type MembershipRequest struct {
	UserID  spec.UserID
	RoomID  string
	Servers []spec.ServerName
	Content json.RawMessage
}
