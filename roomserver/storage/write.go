package storage

import (
	"database/sql"
	"encoding/json"
	"fmt"
)

// Snapshot is one state snapshot row: Delta maps (type, state_key) to an
// event nid on top of Parent (0 for a full snapshot).
type Snapshot struct {
	NID     int64
	RoomNID int64
	Parent  int64
	Delta   []StateEntry
}

// StateEntry is one (type, state_key) -> event.
type StateEntry struct {
	Type     string `json:"t"`
	StateKey string `json:"k"`
	EventNID int64  `json:"e"`
}

// Batch is everything one input-loop round writes, in one transaction.
type Batch struct {
	NewRooms     []Room
	RoomUpdates  []Room
	Events       []Event
	Snapshots    []Snapshot
	CurrentState []CurrentStateRow
	Memberships  []MembershipRow
	Txns         []TxnRow
	Redactions   []Redaction
	// Positioned gives stored events without a place in the timeline
	// (outliers) one: events of the room's history that backfill brought.
	Positioned []PositionRow
	// AliasMoves point every local alias of one room at another (a room
	// upgrade), in the same transaction as the upgrade's events.
	AliasMoves []AliasMove
	// Holes records holes in rooms' timelines (holes.go), new or with
	// fewer free positions; ClosedHoles are the event nids of those
	// filled or given up.
	Holes       []Hole
	ClosedHoles []int64
	// Purges remove rooms whole (purge.go), and HistoryPurges events of
	// rooms' past; both are written last.
	Purges        []PurgeRoom
	HistoryPurges []HistoryPurge
}

// AliasMove points the local aliases of room From at room To.
type AliasMove struct{ From, To string }

// PositionRow places a stored event in the stream.
type PositionRow struct {
	EventNID  int64
	StreamPos int64
}

// CurrentStateRow sets one entry of a room's current state.
type CurrentStateRow struct {
	RoomNID  int64
	Type     string
	StateKey string
	EventNID int64
}

// MembershipRow is a user's current membership of a room.
type MembershipRow struct {
	RoomNID    int64
	UserID     string
	Membership string
	EventNID   int64
	StreamPos  int64
}

// TxnKey is what a client's transaction id is unique in: the spec scopes
// it to the device and the endpoint (the request path without the id).
type TxnKey struct {
	UserID, DeviceID, Endpoint, TxnID string
}

// TxnRow records a client transaction id's event.
type TxnRow struct {
	TxnKey
	EventID string
}

// Redaction replaces a stored event with its redacted form.
type Redaction struct {
	EventNID int64
	PDU      []byte
	Client   []byte
}

// Empty tells whether the batch writes nothing.
func (b *Batch) Empty() bool {
	return len(b.NewRooms)+len(b.RoomUpdates)+len(b.Events)+len(b.Redactions)+len(b.Txns)+len(b.Positioned)+len(b.AliasMoves)+len(b.Holes)+len(b.ClosedHoles)+len(b.Purges)+len(b.HistoryPurges) == 0
}

// WriteBatch writes b inside tx.
func (s *Store) WriteBatch(tx *sql.Tx, b *Batch) error {
	for _, r := range b.NewRooms {
		ext, _ := json.Marshal(r.Extremities)
		if _, err := tx.Exec(`INSERT INTO rooms (room_nid, room_id, room_version, snapshot_nid, snapshot_chain, extremities, depth, visibility)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.NID, r.ID, r.Version, r.SnapshotNID, r.SnapshotChain, string(ext), r.Depth, r.Visibility); err != nil {
			return fmt.Errorf("insert room: %w", err)
		}
	}
	for _, r := range b.RoomUpdates {
		ext, _ := json.Marshal(r.Extremities)
		if _, err := tx.Exec(`UPDATE rooms SET snapshot_nid = $1, snapshot_chain = $2, extremities = $3, depth = $4, visibility = $5 WHERE room_nid = $6`,
			r.SnapshotNID, r.SnapshotChain, string(ext), r.Depth, r.Visibility, r.NID); err != nil {
			return fmt.Errorf("update room: %w", err)
		}
	}
	if len(b.Events) > 0 {
		stmt, err := tx.Prepare(`INSERT INTO events (event_nid, room_nid, event_id, stream_pos, type, state_key, sender, depth, origin_ts,
			snapshot_before, membership, rejected, redacted, relates_to, rel_type, txn_session, txn_id, pdu, client, has_url, self_destruct_ts,
			push_class, mentions, search_text)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)`)
		if err != nil {
			return err
		}
		for _, e := range b.Events {
			if _, err := stmt.Exec(e.NID, e.RoomNID, e.ID, nullInt(e.StreamPos), e.Type, e.StateKey, e.Sender, e.Depth, e.OriginTS,
				e.SnapshotBefore, nullStr(e.Membership), boolInt(e.Rejected), boolInt(e.Redacted), nullStr(e.RelatesTo), nullStr(e.RelType),
				nullInt(e.TxnSession), nullStr(e.TxnID), e.PDU, e.Client, boolInt(e.HasURL), nullInt(e.SelfDestructTS),
				e.PushClass, nullStr(e.Mentions), nullStr(e.SearchText)); err != nil {
				_ = stmt.Close()
				return fmt.Errorf("insert event %s: %w", e.ID, err)
			}
		}
		if err := stmt.Close(); err != nil {
			return err
		}
	}
	if err := updateThreads(tx, b.Events); err != nil {
		return err
	}
	for _, sn := range b.Snapshots {
		delta, _ := json.Marshal(sn.Delta)
		if _, err := tx.Exec(`INSERT INTO state_snapshots (snapshot_nid, room_nid, parent_nid, delta) VALUES ($1, $2, $3, $4)`,
			sn.NID, sn.RoomNID, sn.Parent, string(delta)); err != nil {
			return fmt.Errorf("insert snapshot: %w", err)
		}
	}
	for _, cs := range b.CurrentState {
		if _, err := tx.Exec(`INSERT INTO current_state (room_nid, type, state_key, event_nid) VALUES ($1, $2, $3, $4)
			ON CONFLICT (room_nid, type, state_key) DO UPDATE SET event_nid = excluded.event_nid`,
			cs.RoomNID, cs.Type, cs.StateKey, cs.EventNID); err != nil {
			return fmt.Errorf("current state: %w", err)
		}
	}
	for _, m := range b.Memberships {
		if _, err := tx.Exec(`INSERT INTO memberships (room_nid, user_id, membership, event_nid, stream_pos) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (room_nid, user_id) DO UPDATE SET membership = excluded.membership, event_nid = excluded.event_nid, stream_pos = excluded.stream_pos, forgotten = 0`,
			m.RoomNID, m.UserID, m.Membership, m.EventNID, m.StreamPos); err != nil {
			return fmt.Errorf("membership: %w", err)
		}
	}
	for _, t := range b.Txns {
		if _, err := tx.Exec(`INSERT INTO client_txns (user_id, device_id, endpoint, txn_id, event_id) VALUES ($1, $2, $3, $4, $5)`,
			t.UserID, t.DeviceID, t.Endpoint, t.TxnID, t.EventID); err != nil {
			return fmt.Errorf("transaction id: %w", err)
		}
	}
	for _, p := range b.Positioned {
		if _, err := tx.Exec(`UPDATE events SET stream_pos = $1 WHERE event_nid = $2 AND stream_pos IS NULL`, p.StreamPos, p.EventNID); err != nil {
			return fmt.Errorf("place event: %w", err)
		}
	}
	if err := writeHoles(tx, b.Holes, b.ClosedHoles); err != nil {
		return err
	}
	for _, m := range b.AliasMoves {
		if _, err := tx.Exec(`UPDATE room_aliases SET room_id = $1 WHERE room_id = $2`, m.To, m.From); err != nil {
			return fmt.Errorf("move aliases: %w", err)
		}
	}
	for _, r := range b.Redactions {
		if _, err := tx.Exec(`UPDATE events SET redacted = 1, pdu = $1, client = $2, self_destruct_ts = NULL, search_text = NULL WHERE event_nid = $3`, r.PDU, r.Client, r.EventNID); err != nil {
			return fmt.Errorf("redact: %w", err)
		}
	}
	for _, h := range b.HistoryPurges {
		if err := purgeHistory(tx, h); err != nil {
			return err
		}
	}
	for _, p := range b.Purges {
		if err := purgeRoom(tx, p); err != nil {
			return err
		}
	}
	return nil
}

func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullStr(v string) any {
	if v == "" {
		return nil
	}
	return v
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// updateThreads counts the batch's accepted m.thread replies into their
// roots' summaries.
func updateThreads(tx *sql.Tx, events []Event) error {
	type summary struct{ count, latest int64 }
	roots := map[string]*summary{}
	var order []string
	for _, e := range events {
		if e.RelType != "m.thread" || e.RelatesTo == "" || e.StreamPos == 0 || e.Rejected {
			continue
		}
		sm := roots[e.RelatesTo]
		if sm == nil {
			sm = &summary{}
			roots[e.RelatesTo] = sm
			order = append(order, e.RelatesTo)
		}
		sm.count++
		sm.latest = max(sm.latest, e.StreamPos)
	}
	for _, root := range order {
		sm := roots[root]
		if _, err := tx.Exec(`UPDATE events SET thread_count = thread_count + $1,
			thread_latest = CASE WHEN thread_latest IS NULL OR thread_latest < $2 THEN $2 ELSE thread_latest END
			WHERE event_id = $3`, sm.count, sm.latest, root); err != nil {
			return fmt.Errorf("thread summary of %s: %w", root, err)
		}
	}
	return nil
}
