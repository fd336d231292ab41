package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// The send queue: what waits for which destination, and which process
// sends to a destination (its lease). Invariants:
//   - a destination has at most one transaction in flight: rows with a
//     txn_id all carry the same one, and a new transaction is built only
//     after that one was accepted;
//   - a transaction is built only by the holder of an unexpired lease
//     (NextTransaction checks it in the same database transaction), so two
//     processes never put the same row into different transactions;
//   - except that a transaction of PDUs only is not marked at all (one
//     write fewer before each request): should two processes both send
//     its rows, the destination drops the events it already has.

// Kind says whether a queued item is a PDU or an EDU.
type Kind int

const (
	PDU Kind = 0
	EDU Kind = 1
)

// ErrLeaseLost is returned when the caller no longer holds the lease of
// the destination it works on.
var ErrLeaseLost = errors.New("destination lease lost")

// Outgoing is one PDU or EDU for a set of destinations.
type Outgoing struct {
	Kind   Kind
	Origin spec.ServerName
	// RoomID, EventID and StreamPos identify a PDU; EDUs leave them empty.
	RoomID    string
	EventID   string
	StreamPos int64
	// JSON is the PDU in its federation form or the EDU as it goes into a
	// transaction.
	JSON         []byte
	Destinations []spec.ServerName
}

// Transaction is what goes to one destination in one request.
type Transaction struct {
	ID     string
	Origin spec.ServerName
	// EventIDs are the PDUs' ids, in the PDUs' order.
	EventIDs []string
	PDUs     []json.RawMessage
	EDUs     []json.RawMessage
	// unmarked: a transaction of PDUs only, whose rows were not marked
	// with its id (NextTransaction); nids are its rows.
	unmarked bool
	nids     []int64
}

// DestinationState is the lease and backoff of a destination.
type DestinationState struct {
	Owner      string
	LeaseUntil time.Time
	Failures   int
	RetryAt    time.Time
}

// insertChunk bounds the rows of one multi-row INSERT, well below both
// engines' limits on parameters.
const insertChunk = 200

// Enqueue stores every item for each of its destinations in one
// transaction. Items that are already queued for a destination (the same
// event id) are not queued twice.
func (s *Store) Enqueue(ctx context.Context, items []Outgoing) error {
	if !slices.ContainsFunc(items, func(it Outgoing) bool { return len(it.Destinations) > 0 }) {
		return nil
	}
	return s.db.Write(ctx, func(tx *sql.Tx) error { return s.EnqueueTx(tx, items) })
}

// EnqueueTx is Enqueue inside the caller's transaction: the roomserver
// queues its events in the commit that stores them (decision 0011).
func (s *Store) EnqueueTx(tx *sql.Tx, items []Outgoing) error {
	dests := map[spec.ServerName]struct{}{}
	for _, it := range items {
		for _, d := range it.Destinations {
			dests[d] = struct{}{}
		}
	}
	if len(dests) == 0 {
		return nil
	}
	if err := s.upsertDestinations(tx, dests); err != nil {
		return err
	}
	for _, it := range items {
		if len(it.Destinations) == 0 {
			continue
		}
		if err := s.enqueueOne(tx, it); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) upsertDestinations(tx *sql.Tx, dests map[spec.ServerName]struct{}) error {
	names := make([]any, 0, len(dests))
	for d := range dests {
		names = append(names, string(d))
	}
	for len(names) > 0 {
		n := min(len(names), insertChunk)
		var b strings.Builder
		b.WriteString(`INSERT INTO federation_queue_destinations (destination) VALUES `)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "($%d)", i+1)
		}
		b.WriteString(` ON CONFLICT DO NOTHING`)
		if _, err := tx.Exec(b.String(), names[:n]...); err != nil {
			return fmt.Errorf("queue destinations: %w", err)
		}
		names = names[n:]
	}
	return nil
}

// enqueueOne writes the body once and a row per destination.
func (s *Store) enqueueOne(tx *sql.Tx, it Outgoing) error {
	var bodyNID int64
	if err := tx.QueryRow(`INSERT INTO federation_queue_bodies (body) VALUES ($1) RETURNING body_nid`, it.JSON).Scan(&bodyNID); err != nil {
		return fmt.Errorf("queue body: %w", err)
	}
	var queued int64
	for dests := it.Destinations; len(dests) > 0; {
		n := min(len(dests), insertChunk)
		var b strings.Builder
		b.WriteString(`INSERT INTO federation_queue (destination, origin, kind, room_id, event_id, stream_pos, body_nid) VALUES `)
		args := make([]any, 0, 7*n)
		for i, d := range dests[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			p := 7 * i
			fmt.Fprintf(&b, "($%d,$%d,$%d,$%d,$%d,$%d,$%d)", p+1, p+2, p+3, p+4, p+5, p+6, p+7)
			args = append(args, string(d), string(it.Origin), int(it.Kind), it.RoomID, it.EventID, it.StreamPos, bodyNID)
		}
		b.WriteString(` ON CONFLICT DO NOTHING`)
		res, err := tx.Exec(b.String(), args...)
		if err != nil {
			return fmt.Errorf("queue rows: %w", err)
		}
		if c, err := res.RowsAffected(); err == nil {
			queued += c
		}
		dests = dests[n:]
	}
	if queued == 0 {
		// Every destination had it already: do not keep a body no row uses.
		if _, err := tx.Exec(`DELETE FROM federation_queue_bodies WHERE body_nid = $1`, bodyNID); err != nil {
			return fmt.Errorf("queue body: %w", err)
		}
	}
	return nil
}

// ClaimDestination makes owner the sender for destination until until,
// unless another owner's lease is still running at now. It returns the
// destination's state after the attempt; ErrLeaseLost means another owner
// holds it (the state says until when).
func (s *Store) ClaimDestination(ctx context.Context, destination spec.ServerName, owner string, now, until time.Time) (DestinationState, error) {
	var st DestinationState
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`UPDATE federation_queue_destinations SET owner = $1, lease_until = $2
			WHERE destination = $3 AND (owner = $1 OR lease_until <= $4)`,
			owner, until.UnixMilli(), string(destination), now.UnixMilli()); err != nil {
			return err
		}
		var leaseUntil, retryAt int64
		err := tx.QueryRow(`SELECT owner, lease_until, failures, retry_at FROM federation_queue_destinations WHERE destination = $1`,
			string(destination)).Scan(&st.Owner, &leaseUntil, &st.Failures, &retryAt)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		st.LeaseUntil, st.RetryAt = time.UnixMilli(leaseUntil), time.UnixMilli(retryAt)
		return err
	})
	if err != nil {
		return DestinationState{}, fmt.Errorf("claim %s: %w", destination, err)
	}
	if st.Owner != owner {
		return st, ErrLeaseLost
	}
	return st, nil
}

// RenewLeases extends every lease owner holds to until and returns the
// destinations it still holds.
func (s *Store) RenewLeases(ctx context.Context, owner string, until time.Time) (map[spec.ServerName]bool, error) {
	held := map[spec.ServerName]bool{}
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		clear(held)
		names, err := sqlutil.Strings(tx.Query(`UPDATE federation_queue_destinations SET lease_until = $1 WHERE owner = $2 RETURNING destination`,
			until.UnixMilli(), owner))
		for _, n := range names {
			held[spec.ServerName(n)] = true
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("renew leases: %w", err)
	}
	return held, nil
}

// ReleaseDestination gives up owner's lease of destination, so that any
// process may take it at once.
func (s *Store) ReleaseDestination(ctx context.Context, destination spec.ServerName, owner string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE federation_queue_destinations SET owner = '', lease_until = 0 WHERE destination = $1 AND owner = $2`,
			string(destination), owner)
		return err
	})
}

// ReleaseAll gives up every lease owner holds.
func (s *Store) ReleaseAll(ctx context.Context, owner string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE federation_queue_destinations SET owner = '', lease_until = 0 WHERE owner = $1`, owner)
		return err
	})
}

// ClaimableDestinations lists the destinations with queued items whose
// lease is owner's or free at now.
func (s *Store) ClaimableDestinations(ctx context.Context, owner string, now time.Time) ([]spec.ServerName, error) {
	names, err := sqlutil.Strings(s.db.Read.QueryContext(ctx, `SELECT d.destination FROM federation_queue_destinations d
		WHERE (d.owner = $1 OR d.lease_until <= $2)
		AND EXISTS (SELECT 1 FROM federation_queue q WHERE q.destination = d.destination)`,
		owner, now.UnixMilli()))
	if err != nil {
		return nil, fmt.Errorf("claimable destinations: %w", err)
	}
	out := make([]spec.ServerName, len(names))
	for i, n := range names {
		out[i] = spec.ServerName(n)
	}
	return out, nil
}

// Destination returns the lease and backoff of a destination.
func (s *Store) Destination(ctx context.Context, destination spec.ServerName) (DestinationState, error) {
	var st DestinationState
	var leaseUntil, retryAt int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT owner, lease_until, failures, retry_at FROM federation_queue_destinations WHERE destination = $1`,
		string(destination)).Scan(&st.Owner, &leaseUntil, &st.Failures, &retryAt)
	if errors.Is(err, sql.ErrNoRows) {
		return st, ErrNotFound
	}
	if err != nil {
		return st, fmt.Errorf("destination %s: %w", destination, err)
	}
	st.LeaseUntil, st.RetryAt = time.UnixMilli(leaseUntil), time.UnixMilli(retryAt)
	return st, nil
}

// NextTransaction returns the transaction to send to destination: the one
// already in flight if there is one (with its id), else a new one with id
// newID of at most maxPDUs PDUs and maxEDUs EDUs, the oldest first, all of
// one origin. It fails with ErrLeaseLost unless owner holds the lease at
// now, and with ErrNotFound when nothing waits.
//
// A transaction of PDUs only is built without a write: its rows are not
// marked with its id, which saves a commit (an fsync) before every
// request, on the path of every message to another server. Should it be
// sent again under another id (after a restart, or by a second process
// that believes it owns the destination), the destination ignores the
// events it already has. EDUs carry no such identity (a to-device message
// twice is delivered twice), so a transaction with EDUs is marked.
func (s *Store) NextTransaction(ctx context.Context, destination spec.ServerName, owner string, now time.Time, newID string, maxPDUs, maxEDUs int) (*Transaction, error) {
	txn, err := s.nextPDUTransaction(ctx, destination, owner, now, newID, maxPDUs)
	if err != nil {
		return nil, fmt.Errorf("next transaction to %s: %w", destination, err)
	}
	if txn != nil {
		return txn, nil
	}
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		var held int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM federation_queue_destinations WHERE destination = $1 AND owner = $2 AND lease_until > $3`,
			string(destination), owner, now.UnixMilli()).Scan(&held); err != nil {
			return err
		}
		if held == 0 {
			return ErrLeaseLost
		}
		rows, err := queueRows(tx.Query(`SELECT q.queue_nid, q.kind, q.origin, q.event_id, q.txn_id, b.body
			FROM federation_queue q JOIN federation_queue_bodies b ON b.body_nid = q.body_nid
			WHERE q.destination = $1 AND q.txn_id IS NOT NULL ORDER BY q.stream_pos, q.queue_nid`, string(destination)))
		if err != nil {
			return err
		}
		if len(rows) > 0 {
			txn = rows.transaction(rows[0].txnID)
			return nil
		}
		next := `SELECT q.queue_nid, q.kind, q.origin, q.event_id, q.txn_id, b.body
			FROM federation_queue q JOIN federation_queue_bodies b ON b.body_nid = q.body_nid
			WHERE q.destination = $1 AND q.kind = $2 AND q.txn_id IS NULL ORDER BY q.stream_pos, q.queue_nid LIMIT $3`
		pdus, err := queueRows(tx.Query(next, string(destination), int(PDU), maxPDUs))
		if err != nil {
			return err
		}
		edus, err := queueRows(tx.Query(next, string(destination), int(EDU), maxEDUs))
		if err != nil {
			return err
		}
		rows = append(pdus, edus...)
		if len(rows) == 0 {
			return ErrNotFound
		}
		// A transaction has one origin: take the oldest item's, and leave
		// the others (rare: two local server names sharing a destination)
		// for the next transaction.
		oldest := rows[0]
		for _, r := range rows {
			if r.nid < oldest.nid {
				oldest = r
			}
		}
		picked := rows.ofOrigin(oldest.origin)
		nids := make([]any, 0, len(picked)+2)
		nids = append(nids, newID, string(destination))
		for _, r := range picked {
			nids = append(nids, r.nid)
		}
		res, err := tx.Exec(`UPDATE federation_queue SET txn_id = $1 WHERE destination = $2 AND txn_id IS NULL AND queue_nid IN (`+
			sqlutil.InList(3, len(picked))+`)`, nids...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil && n != int64(len(picked)) {
			// Only possible when two processes both believe they hold the
			// lease (clocks far apart): let the other one send.
			return fmt.Errorf("%w: rows taken meanwhile", ErrLeaseLost)
		}
		txn = picked.transaction(newID)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("next transaction to %s: %w", destination, err)
	}
	return txn, nil
}

// nextPDUTransaction builds, by reading only, the next transaction when
// it holds PDUs only; nil when it would not (a transaction is in flight,
// EDUs wait, or nothing does): then NextTransaction's write decides.
func (s *Store) nextPDUTransaction(ctx context.Context, destination spec.ServerName, owner string, now time.Time, newID string, maxPDUs int) (*Transaction, error) {
	var held, inFlight, edus int
	err := s.db.Read.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM federation_queue_destinations WHERE destination = $1 AND owner = $2 AND lease_until > $3),
		(SELECT COUNT(*) FROM (SELECT 1 FROM federation_queue WHERE destination = $1 AND txn_id IS NOT NULL LIMIT 1) f),
		(SELECT COUNT(*) FROM (SELECT 1 FROM federation_queue WHERE destination = $1 AND kind = $4 LIMIT 1) e)`,
		string(destination), owner, now.UnixMilli(), int(EDU)).Scan(&held, &inFlight, &edus)
	if err != nil || held == 0 || inFlight > 0 || edus > 0 {
		return nil, err
	}
	rows, err := queueRows(s.db.Read.QueryContext(ctx, `SELECT q.queue_nid, q.kind, q.origin, q.event_id, q.txn_id, b.body
		FROM federation_queue q JOIN federation_queue_bodies b ON b.body_nid = q.body_nid
		WHERE q.destination = $1 AND q.kind = $2 AND q.txn_id IS NULL ORDER BY q.stream_pos, q.queue_nid LIMIT $3`,
		string(destination), int(PDU), maxPDUs))
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	picked := rows.ofOrigin(rows[0].origin)
	txn := picked.transaction(newID)
	txn.unmarked = true
	for _, r := range picked {
		txn.nids = append(txn.nids, r.nid)
	}
	return txn, nil
}

// TransactionSent removes what the destination accepted and resets its
// backoff.
func (s *Store) TransactionSent(ctx context.Context, destination spec.ServerName, txn *Transaction) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		var bodies []int64
		var err error
		if len(txn.PDUs) > 0 {
			if err := recordSuccessPos(tx, destination, txn); err != nil {
				return err
			}
		}
		if txn.unmarked {
			args := []any{string(destination)}
			for _, nid := range txn.nids {
				args = append(args, nid)
			}
			bodies, err = int64s(tx.Query(`DELETE FROM federation_queue WHERE destination = $1 AND queue_nid IN (`+
				sqlutil.InList(2, len(txn.nids))+`) RETURNING body_nid`, args...))
		} else {
			bodies, err = int64s(tx.Query(`DELETE FROM federation_queue WHERE destination = $1 AND txn_id = $2 RETURNING body_nid`,
				string(destination), txn.ID))
		}
		if err != nil {
			return fmt.Errorf("delete sent: %w", err)
		}
		if err := deleteUnusedBodies(tx, bodies); err != nil {
			return err
		}
		_, err = tx.Exec(`UPDATE federation_queue_destinations SET failures = 0, retry_at = 0, failure_ts = NULL
			WHERE destination = $1 AND (failures <> 0 OR failure_ts IS NOT NULL)`, string(destination))
		return err
	})
}

// recordSuccessPos notes the newest PDU of a transaction the destination
// accepted, before its rows go.
func recordSuccessPos(tx *sql.Tx, destination spec.ServerName, txn *Transaction) error {
	cond, args := `txn_id = $2`, []any{string(destination), txn.ID}
	if txn.unmarked {
		args = args[:1]
		for _, nid := range txn.nids {
			args = append(args, nid)
		}
		cond = `queue_nid IN (` + sqlutil.InList(2, len(txn.nids)) + `)`
	}
	_, err := tx.Exec(`UPDATE federation_queue_destinations SET last_success_pos = COALESCE((SELECT MAX(stream_pos)
		FROM federation_queue WHERE destination = $1 AND kind = 0 AND `+cond+`), last_success_pos) WHERE destination = $1`, args...)
	if err != nil {
		return fmt.Errorf("record sent position: %w", err)
	}
	return nil
}

// TransactionFailed records the backoff of destination, and when it
// failed.
func (s *Store) TransactionFailed(ctx context.Context, destination spec.ServerName, failures int, retryAt time.Time) error {
	now := time.Now().UnixMilli()
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE federation_queue_destinations SET failures = $1, retry_at = $2, last_failed_ts = $3,
			failure_ts = COALESCE(failure_ts, $3) WHERE destination = $4`,
			failures, retryAt.UnixMilli(), now, string(destination))
		return err
	})
}

// ResetBackoff ends a destination's backoff (the admin API's
// reset_connection); ErrNotFound for a destination never queued for.
func (s *Store) ResetBackoff(ctx context.Context, destination spec.ServerName) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE federation_queue_destinations SET failures = 0, retry_at = 0, failure_ts = NULL
			WHERE destination = $1`, string(destination))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// DropQueue removes everything that waits for destination and returns
// how many items that was.
func (s *Store) DropQueue(ctx context.Context, destination spec.ServerName) (int64, error) {
	var dropped int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		bodies, err := int64s(tx.Query(`DELETE FROM federation_queue WHERE destination = $1 RETURNING body_nid`, string(destination)))
		if err != nil {
			return err
		}
		dropped = int64(len(bodies))
		return deleteUnusedBodies(tx, bodies)
	})
	if err != nil {
		return 0, fmt.Errorf("drop queue of %s: %w", destination, err)
	}
	return dropped, nil
}

// QueueLength counts the PDUs and EDUs waiting for destination.
func (s *Store) QueueLength(ctx context.Context, destination spec.ServerName) (int, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM federation_queue WHERE destination = $1`, string(destination)).Scan(&n)
	return n, err
}

func deleteUnusedBodies(tx *sql.Tx, nids []int64) error {
	for len(nids) > 0 {
		n := min(len(nids), insertChunk)
		args := make([]any, n)
		for i, v := range nids[:n] {
			args[i] = v
		}
		if _, err := tx.Exec(`DELETE FROM federation_queue_bodies WHERE body_nid IN (`+sqlutil.InList(1, n)+`)
			AND NOT EXISTS (SELECT 1 FROM federation_queue q WHERE q.body_nid = federation_queue_bodies.body_nid)`, args...); err != nil {
			return fmt.Errorf("delete queue bodies: %w", err)
		}
		nids = nids[n:]
	}
	return nil
}

type queueRow struct {
	nid     int64
	kind    Kind
	origin  string
	eventID string
	txnID   string
	body    []byte
}

type queueRowList []queueRow

// ofOrigin are the rows of one local server name.
func (rows queueRowList) ofOrigin(origin string) queueRowList {
	var out queueRowList
	for _, r := range rows {
		if r.origin == origin {
			out = append(out, r)
		}
	}
	return out
}

func (rows queueRowList) transaction(id string) *Transaction {
	t := &Transaction{ID: id, Origin: spec.ServerName(rows[0].origin), PDUs: []json.RawMessage{}}
	for _, r := range rows {
		if r.kind == PDU {
			t.PDUs = append(t.PDUs, r.body)
			t.EventIDs = append(t.EventIDs, r.eventID)
		} else {
			t.EDUs = append(t.EDUs, r.body)
		}
	}
	return t
}

func queueRows(rows *sql.Rows, err error) (queueRowList, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out queueRowList
	for rows.Next() {
		var r queueRow
		var txnID sql.NullString
		if err := rows.Scan(&r.nid, &r.kind, &r.origin, &r.eventID, &txnID, &r.body); err != nil {
			return nil, err
		}
		r.txnID = txnID.String
		out = append(out, r)
	}
	return out, rows.Err()
}

func int64s(rows *sql.Rows, err error) ([]int64, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
