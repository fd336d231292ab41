package storage

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rohrpost/rohrpost/internal/lru"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// Store reads and writes the roomserver tables.
type Store struct {
	db *sqlutil.DB
	// snapshots keeps state snapshot rows, which never change once
	// written: a state lookup walks a chain of them.
	snapshots *lru.Cache[int64, *Snapshot]
}

// snapshotCacheSize bounds the cached snapshots; a snapshot is a few
// hundred bytes, so this is a few MiB at most.
const snapshotCacheSize = 16384

// Open migrates the schema and returns the store.
func Open(ctx context.Context, db *sqlutil.DB) (*Store, error) {
	if err := db.Migrate(ctx, "roomserver", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db, snapshots: lru.New[int64, *Snapshot](snapshotCacheSize)}, nil
}

// DB is the underlying database.
func (s *Store) DB() *sqlutil.DB { return s.db }

// Room is a row of rooms.
type Room struct {
	NID           int64
	ID            string
	Version       string
	SnapshotNID   int64
	SnapshotChain int64
	Extremities   []string
	Depth         int64
	Visibility    string
}

// Event is a stored event.
type Event struct {
	NID            int64
	RoomNID        int64
	ID             string
	StreamPos      int64 // 0 when not in the stream
	Type           string
	StateKey       *string
	Sender         string
	Depth          int64
	OriginTS       int64
	SnapshotBefore int64
	Membership     string
	Rejected       bool
	Redacted       bool
	RelatesTo      string
	RelType        string
	TxnSession     int64
	TxnID          string
	HasURL         bool
	// PushClass and Mentions are what the default push rules make of
	// the event (roomserver/pushclass.go).
	PushClass int
	// Mentions are the user ids of content.m.mentions.user_ids, space
	// separated.
	Mentions string
	// SearchText is what /search matches (roomserver.SearchText).
	SearchText string
	// ThreadCount and ThreadLatest summarise the thread of a thread root:
	// its replies and the stream position of the newest. Read only; the
	// store keeps them as replies are written.
	ThreadCount, ThreadLatest int64
	// SelfDestructTS is when the event is to be pruned (MSC2228), in
	// milliseconds since the epoch; 0 for never. Only written on insert.
	SelfDestructTS int64
	PDU            []byte
	Client         []byte
}

// Push classes of events.
const (
	PushNone         = 0
	PushNotify       = 1
	PushHighlightAll = 2
)

// Counters are the highest ids in use, for the input loop to continue from.
type Counters struct {
	RoomNID, EventNID, SnapshotNID, StreamPos int64
	// HistoryPos is the lowest position in use, zero or below: events
	// backfilled from other servers are older than everything in the
	// stream and take positions downwards from it, so that /messages
	// pages into them and /sync (which only looks forward) never sees
	// them as new.
	HistoryPos int64
}

// LoadCounters reads the current maxima.
func (s *Store) LoadCounters(ctx context.Context) (Counters, error) {
	var c Counters
	err := s.db.Read.QueryRowContext(ctx, `SELECT
		(SELECT COALESCE(MAX(room_nid), 0) FROM rooms),
		(SELECT COALESCE(MAX(event_nid), 0) FROM events),
		(SELECT COALESCE(MAX(snapshot_nid), 0) FROM state_snapshots),
		(SELECT COALESCE(MAX(stream_pos), 0) FROM events),
		(SELECT COALESCE(MIN(stream_pos), 0) FROM events)`).Scan(&c.RoomNID, &c.EventNID, &c.SnapshotNID, &c.StreamPos, &c.HistoryPos)
	c.HistoryPos = min(c.HistoryPos, 0)
	return c, err
}

// MaxStreamPos is the position of the newest event in the stream.
func (s *Store) MaxStreamPos(ctx context.Context) (int64, error) {
	var p int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_pos), 0) FROM events`).Scan(&p)
	return p, err
}

// RoomByID loads a room row.
func (s *Store) RoomByID(ctx context.Context, roomID string) (*Room, error) {
	return s.scanRoom(s.db.Read.QueryRowContext(ctx, `SELECT room_nid, room_id, room_version, snapshot_nid, snapshot_chain, extremities, depth, visibility FROM rooms WHERE room_id = $1`, roomID))
}

// RoomByNID loads a room row by nid.
func (s *Store) RoomByNID(ctx context.Context, nid int64) (*Room, error) {
	return s.scanRoom(s.db.Read.QueryRowContext(ctx, `SELECT room_nid, room_id, room_version, snapshot_nid, snapshot_chain, extremities, depth, visibility FROM rooms WHERE room_nid = $1`, nid))
}

func (s *Store) scanRoom(row *sql.Row) (*Room, error) {
	var r Room
	var ext string
	err := row.Scan(&r.NID, &r.ID, &r.Version, &r.SnapshotNID, &r.SnapshotChain, &ext, &r.Depth, &r.Visibility)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(ext), &r.Extremities); err != nil {
		return nil, fmt.Errorf("room %s extremities: %w", r.ID, err)
	}
	return &r, nil
}

// PublicRoomIDs lists rooms published in the directory.
func (s *Store) PublicRoomIDs(ctx context.Context) ([]string, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id FROM rooms WHERE visibility = 'public' ORDER BY room_nid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Forget marks a user's past membership of a room as forgotten.
func (s *Store) Forget(ctx context.Context, roomNID int64, userID string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE memberships SET forgotten = 1 WHERE room_nid = $1 AND user_id = $2 AND membership IN ('leave', 'ban')`, roomNID, userID)
		return err
	})
}

// PublishedPosition is the stream position up to which every event is
// known to be on the bus.
func (s *Store) PublishedPosition(ctx context.Context) (int64, error) {
	var p int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT stream_pos FROM published_position WHERE id = 1`).Scan(&p)
	return p, err
}

// SetPublishedPosition moves the published position forward, never back.
func (s *Store) SetPublishedPosition(ctx context.Context, pos int64) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE published_position SET stream_pos = $1 WHERE id = 1 AND stream_pos < $1`, pos)
		return err
	})
}
