package storage

import (
	"context"

	"github.com/rohrpost/rohrpost/internal/lru"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// Reader is the read-only view of the roomserver's tables that the
// components reading them directly (syncapi, clientapi; decision 0001)
// get: the queries they use and none of the writes, which are the
// roomserver's alone.
type Reader interface {
	CountUnread(ctx context.Context, roomNID, after, upto int64, user string) (notifications, highlights int, err error)
	CurrentState(ctx context.Context, roomNID int64) ([]*Event, error)
	CurrentStateNIDs(ctx context.Context, roomNID int64) (map[int64]bool, error)
	EventAtPosition(ctx context.Context, pos int64) (*Event, error)
	EventByID(ctx context.Context, eventID string) (*Event, error)
	EventNearTimestamp(ctx context.Context, roomNID, ts int64, forwards bool) (*Event, error)
	EventsByNID(ctx context.Context, nids []int64) ([]*Event, error)
	EventsByID(ctx context.Context, ids []string) ([]*Event, error)
	JoinedUsersOfRooms(ctx context.Context, roomNIDs []int64) ([]string, error)
	MaxStreamPos(ctx context.Context) (int64, error)
	MembershipAt(ctx context.Context, roomNID int64, userID string, pos int64) (string, error)
	MembershipChangesSince(ctx context.Context, roomNIDs []int64, from, to int64) ([]MembershipChange, error)
	MembershipsOfUser(ctx context.Context, userID string) ([]UserMembership, error)
	NotifyingEvents(ctx context.Context, user string, rooms map[int64]int64, before int64, highlightOnly bool, limit int) ([]NotifyingEvent, error)
	PushInfo(ctx context.Context, eventID string) (*Event, error)
	Relations(ctx context.Context, eventID string, relType, evType string, from, to int64, limit int, backwards bool) ([]*Event, error)
	RoomByID(ctx context.Context, roomID string) (*Room, error)
	RoomByNID(ctx context.Context, nid int64) (*Room, error)
	RoomEvents(ctx context.Context, roomNID, from, to int64, limit int, backwards bool) ([]*Event, error)
	RoomEventsFiltered(ctx context.Context, roomNID, from, to int64, limit int, backwards bool, f *EventFilter) ([]*Event, error)
	// HolesBetween are the open holes of a room's timeline with free
	// positions in from < pos <= to, the newest first (holes.go).
	HolesBetween(ctx context.Context, roomNID, from, to int64) ([]*Hole, error)
	Search(ctx context.Context, q SearchQuery) ([]*Event, error)
	SearchCount(ctx context.Context, q SearchQuery) (int, error)
	SearchRooms(ctx context.Context, q SearchQuery) ([]int64, error)
	SharedOrInvitedUsers(ctx context.Context, user string) (map[string]bool, error)
	StateAt(ctx context.Context, snapshotNID int64) (map[[2]string]int64, error)
	StateBeforeStream(ctx context.Context, roomNID int64, evType, stateKey string) (*Event, error)
	StateEventsBetween(ctx context.Context, roomNID, from, to int64) ([]*Event, error)
	StateHistory(ctx context.Context, roomNID int64, evType, stateKey string) ([]*Event, error)
	ThreadParticipant(ctx context.Context, root, user string) (bool, error)
	ThreadRoots(ctx context.Context, roomNID, before int64, participant string, limit int) ([]*Event, error)
	// The admin API's room list (admin.go, decision 0020).
	AdminRooms(ctx context.Context, localSuffix, roomID string) ([]AdminRoom, error)
	RoomsOfServer(ctx context.Context, server string) ([]ServerRoom, error)
}

var _ Reader = (*Store)(nil)

// OpenReader returns a Reader. It never migrates: the roomserver owns the
// tables and alone changes their schema. It fails, saying so, when the
// database lacks a migration this code expects (the roomserver of this
// version has not run yet); see docs/deploy.md, "Upgrading".
func OpenReader(ctx context.Context, db *sqlutil.DB) (Reader, error) {
	if err := db.CheckMigrated(ctx, "roomserver", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db, snapshots: lru.New[int64, *Snapshot](snapshotCacheSize)}, nil
}
