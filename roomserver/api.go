package roomserver

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// API is the roomserver's contract.
type API interface {
	CreateRoom(ctx context.Context, req CreateRoomRequest) (*CreateRoomResponse, error)
	// SendEvent builds, signs, authorises and stores one local event.
	SendEvent(ctx context.Context, req SendEventRequest) (*SendEventResponse, error)
	// InputEvents takes events built by other servers through the same
	// input path, in order.
	InputEvents(ctx context.Context, events []InputEvent) ([]InputResult, error)

	RoomVersion(ctx context.Context, roomID string) (string, error)
	CurrentState(ctx context.Context, roomID string) ([]json.RawMessage, error)
	StateEvent(ctx context.Context, roomID, evType, stateKey string) (*StateEvent, error)
	Membership(ctx context.Context, roomID string, user spec.UserID) (string, error)
	JoinedMembers(ctx context.Context, roomID string) (map[string]MemberProfile, error)
	JoinedRooms(ctx context.Context, user spec.UserID) ([]string, error)
	// ForgetRoom hides a room the user left from their /sync.
	ForgetRoom(ctx context.Context, roomID string, user spec.UserID) error
	RoomSummary(ctx context.Context, roomID string, user spec.UserID) (*Summary, error)
	DescribeRoom(ctx context.Context, roomID, user string) (json.RawMessage, error)
	Event(ctx context.Context, eventID string) (*Event, error)

	PutAlias(ctx context.Context, alias, roomID string, creator spec.UserID) error
	ResolveAlias(ctx context.Context, alias string) (string, error)
	DeleteAlias(ctx context.Context, alias string, user spec.UserID) error
	RoomAliases(ctx context.Context, roomID string) ([]string, error)

	SetVisibility(ctx context.Context, roomID, visibility string) error
	Visibility(ctx context.Context, roomID string) (string, error)
	PublicRooms(ctx context.Context) ([]PublicRoom, error)
	// SearchMembers is the user directory over room memberships: joined
	// members of the rooms the searcher is in and of open rooms (public
	// join rule or world-readable history), matched on user id and room
	// display name.
	SearchMembers(ctx context.Context, req SearchMembersRequest) (*SearchMembersResponse, error)
	// SpaceHierarchy is one page of a space's tree (hierarchy.go).
	SpaceHierarchy(ctx context.Context, req HierarchyRequest) (*HierarchyResponse, error)

	// Federation (federation.go, import.go): what other servers read of
	// the DAG, and rooms joined through them.
	EventTemplate(ctx context.Context, req TemplateRequest) (*TemplateResponse, error)
	StateBefore(ctx context.Context, roomID, eventID string) (*RoomState, error)
	CurrentRoomState(ctx context.Context, roomID string) (*RoomState, error)
	EventsByID(ctx context.Context, roomID string, ids []string) ([]gomatrixserverlib.PDU, error)
	RoomOfEvent(ctx context.Context, eventID string) (string, error)
	EventAuthChain(ctx context.Context, roomID, eventID string) ([]gomatrixserverlib.PDU, error)
	WalkBack(ctx context.Context, req WalkRequest) ([]gomatrixserverlib.PDU, error)
	ServersInRoom(ctx context.Context, roomID string) ([]spec.ServerName, error)
	Extremities(ctx context.Context, roomID string) ([]string, error)
	// HistoryForServer, ServerHierarchy and EventsNearTimestamp serve
	// another server's reads (server_history.go, hierarchy_federation.go,
	// timestamp.go).
	HistoryForServer(ctx context.Context, roomID string, server spec.ServerName, eventIDs []string) (*ServerHistory, error)
	ServerHierarchy(ctx context.Context, req ServerHierarchyRequest) (*ServerHierarchyResponse, error)
	EventsNearTimestamp(ctx context.Context, roomID string, ts int64, forwards bool, limit int) ([]TimestampEvent, error)
	ImportJoin(ctx context.Context, req ImportJoinRequest) (*InputResult, error)
	// SharedServers and SharedWithLocalSince say who shares rooms with
	// whom, for device lists across servers (shared_rooms.go).
	SharedServers(ctx context.Context, user spec.UserID) ([]spec.ServerName, error)
	SharedWithLocalSince(ctx context.Context, users []string) (*SharedSince, error)
	// EarliestEvent and Backfill take a room's history from other
	// servers (backfill.go).
	EarliestEvent(ctx context.Context, roomID string) (*Event, error)
	Backfill(ctx context.Context, roomID string, pdus []gomatrixserverlib.PDU) (*BackfillResult, error)
	// HoleBelow and FillHole take history missing in the middle of a
	// room's timeline from other servers (holes.go).
	HoleBelow(ctx context.Context, roomID, eventID string) (*Hole, error)
	FillHole(ctx context.Context, roomID, eventID string, pdus []gomatrixserverlib.PDU) (*BackfillResult, error)
	// BuildEvent and StoreOutOfRoomMembership are the two halves of an
	// invite across servers (invite.go).
	BuildEvent(ctx context.Context, req SendEventRequest) (gomatrixserverlib.PDU, error)
	StoreOutOfRoomMembership(ctx context.Context, pdu gomatrixserverlib.PDU) (*InputResult, error)

	// UpgradeRoom replaces the room with one of newVersion; where that
	// version has additional creators, they are the given users.
	UpgradeRoom(ctx context.Context, roomID string, user spec.UserID, newVersion string, additionalCreators []spec.UserID) (string, error)
	// FollowUpgrade moves our aliases and directory listing of a room
	// upgraded elsewhere to its replacement (upgrade.go).
	FollowUpgrade(ctx context.Context, oldID, newID string) error

	// The admin API's writes (admin.go).
	PurgeRoom(ctx context.Context, roomID string) error
	PurgeHistory(ctx context.Context, req PurgeHistoryRequest) error
	MoveAliases(ctx context.Context, from, to string) ([]string, error)
	RoomMemberships(ctx context.Context, roomID string) (map[string]string, error)
	DropExtremities(ctx context.Context, roomID string) (int, error)
}

// Sentinel errors; transports map them to Matrix errcodes.
var (
	ErrRoomNotFound       = errors.New("room not found")
	ErrEventNotFound      = errors.New("event not found")
	ErrForbidden          = errors.New("forbidden")
	ErrTooLarge           = errors.New("event too large")
	ErrBadEvent           = errors.New("bad event")
	ErrUnsupportedVersion = errors.New("unsupported room version")
	ErrAliasExists        = errors.New("alias already exists")
	ErrAliasNotFound      = errors.New("alias not found")
	ErrBadState           = errors.New("bad state")
)

// CreateRoomRequest is POST /createRoom after validation.
type CreateRoomRequest struct {
	Creator        spec.UserID
	CreatorProfile MemberProfile
	RoomVersion    string
	Preset         string
	Visibility     string
	AliasLocalpart string
	Name           string
	Topic          string
	Invite         []spec.UserID
	// InviteeProfiles are the invitees' display names and avatars, by
	// user id, for their invite events (as /invite puts them there).
	InviteeProfiles map[string]MemberProfile `json:",omitempty"`
	// InviteLater are invitees of other servers: they count for the power
	// levels (and creators) like Invite, but their invites cross servers
	// (/invite) after the room exists, so no member events are made here.
	InviteLater               []spec.UserID
	IsDirect                  bool
	InitialState              []InitialStateEvent
	CreationContent           json.RawMessage
	PowerLevelContentOverride json.RawMessage
	// RoomID, when set, is the id to give the room (room versions whose ids
	// are not derived from the create event); an upgrade names the new room
	// in the old room's tombstone before creating it.
	RoomID string
}

// InitialStateEvent is one entry of createRoom's initial_state.
type InitialStateEvent struct {
	Type     string          `json:"type"`
	StateKey string          `json:"state_key"`
	Content  json.RawMessage `json:"content"`
}

type CreateRoomResponse struct {
	RoomID string
	Alias  string
}

// SendEventRequest is one local event to build.
type SendEventRequest struct {
	RoomID   string
	Sender   spec.UserID
	Type     string
	StateKey *string
	Content  json.RawMessage
	Redacts  string
	// TxnID makes the send idempotent: it is unique per TxnDevice of the
	// sender and TxnEndpoint, the request path without the id ("send/"
	// room id "/" event type, or "redact/" room id "/" event id), as the
	// spec scopes transaction ids. TxnSession is the login that sent it,
	// whose syncs see the id in unsigned.transaction_id.
	TxnSession  int64
	TxnDevice   string
	TxnEndpoint string
	TxnID       string
}

type SendEventResponse struct {
	EventID   string
	StreamPos int64
}

// StateEvent is one current state event.
type StateEvent struct {
	Client  json.RawMessage
	Content json.RawMessage
}

// Event is a stored event as the client API needs it.
type Event struct {
	RoomID    string
	EventID   string
	Type      string
	StateKey  *string
	Sender    string
	StreamPos int64
	Client    json.RawMessage
}

type SearchMembersRequest struct {
	Searcher spec.UserID
	// Term is matched case-insensitively as a substring.
	Term  string
	Limit int
	// Users, when set, are the only users considered, whatever Term
	// matches: the client API finds local users by their global
	// profile and asks which of them the searcher may see.
	Users []string `json:",omitempty"`
}

// SearchMembersResponse holds the matches by user id; Limited tells that
// more than Limit matched.
type SearchMembersResponse struct {
	Results []DirectoryMember
	Limited bool
}

// DirectoryMember is a user found by SearchMembers.
type DirectoryMember struct {
	UserID string
	MemberProfile
}

type MemberProfile struct {
	DisplayName string `json:"displayname,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// PublicRoom is a room directory entry (the spec's PublishedRoomsChunk).
type PublicRoom struct {
	RoomID           string `json:"room_id"`
	Name             string `json:"name,omitempty"`
	Topic            string `json:"topic,omitempty"`
	CanonicalAlias   string `json:"canonical_alias,omitempty"`
	AvatarURL        string `json:"avatar_url,omitempty"`
	NumJoinedMembers int    `json:"num_joined_members"`
	WorldReadable    bool   `json:"world_readable"`
	GuestCanJoin     bool   `json:"guest_can_join"`
	JoinRule         string `json:"join_rule,omitempty"`
	RoomType         string `json:"room_type,omitempty"`
}

// Summary is what /sync's room summary shows.
type Summary struct {
	Joined  int
	Invited int
	Heroes  []string
}
