package roomserver

import (
	"encoding/json"
	"slices"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/tidwall/gjson"
)

// fullSnapshotEvery bounds how many deltas a state lookup walks.
const fullSnapshotEvery = 64

// eventMeta is what the input path knows about an event besides its JSON.
type eventMeta struct {
	txnSession int64
	// txn is the client's transaction, if it sent one (TxnID set).
	txn storage.TxnKey
}

// apply adds an authorised event to the room's timeline: it assigns the
// event its ids and stream position, moves the current state and forward
// extremities, and queues the rows and the output event. Every check must
// have happened before; apply does not fail.
func (b *batch) apply(r *room, pdu gomatrixserverlib.PDU, meta eventMeta) *storage.Event {
	b.counters.EventNID++
	b.counters.StreamPos++
	ev := storage.Event{
		NID: b.counters.EventNID, RoomNID: r.nid, ID: pdu.EventID(), StreamPos: b.counters.StreamPos,
		Type: pdu.Type(), StateKey: pdu.StateKey(), Sender: string(pdu.SenderID()), Depth: pdu.Depth(),
		OriginTS: int64(pdu.OriginServerTS()), SnapshotBefore: r.snapshot, TxnSession: meta.txnSession, TxnID: meta.txn.TxnID,
		PDU: pdu.JSON(),
	}
	ev.HasURL = gjson.GetBytes(pdu.Content(), "url").Type == gjson.String
	ev.SelfDestructTS = selfDestructAt(pdu)
	classifyPush(r, pdu, &ev)
	ev.SearchText = SearchText(pdu.Type(), pdu.Content())
	if rel := gjson.GetBytes(pdu.Content(), `m\.relates_to`); rel.IsObject() {
		ev.RelatesTo, ev.RelType = rel.Get("event_id").String(), rel.Get("rel_type").String()
	}
	var prev *stateEvent
	if sk := pdu.StateKey(); sk != nil {
		k := stateKey{EventType: pdu.Type(), StateKey: *sk}
		prev = r.state[k]
		ev.Client = clientJSON(pdu, prev)
		r.setState(k, &stateEvent{nid: ev.NID, pdu: pdu, client: ev.Client})
		b.newSnapshot(r, k, ev.NID)
		b.write.CurrentState = append(b.write.CurrentState, storage.CurrentStateRow{RoomNID: r.nid, Type: k.EventType, StateKey: k.StateKey, EventNID: ev.NID})
		if pdu.Type() == spec.MRoomMember {
			ev.Membership, _ = pdu.Membership()
			b.write.Memberships = append(b.write.Memberships, storage.MembershipRow{RoomNID: r.nid, UserID: *sk, Membership: ev.Membership, EventNID: ev.NID, StreamPos: ev.StreamPos})
		}
	} else {
		ev.Client = clientJSON(pdu, nil)
	}
	r.advance(pdu)

	b.write.Events = append(b.write.Events, ev)
	if meta.txn.TxnID != "" {
		b.write.Txns = append(b.write.Txns, storage.TxnRow{TxnKey: meta.txn, EventID: ev.ID})
		b.txns[meta.txn] = ev.ID
	}
	b.outputs = append(b.outputs, OutputEvent{
		RoomID: r.id, RoomNID: r.nid, EventID: ev.ID, StreamPos: ev.StreamPos, Type: ev.Type, StateKey: ev.StateKey,
		Sender: ev.Sender, Membership: ev.Membership, PDU: ev.PDU, PushClass: ev.PushClass, Mentions: ev.Mentions, Classified: true,
		Servers: r.serverNames(), Known: true,
	})
	return &b.write.Events[len(b.write.Events)-1]
}

func (b *batch) newSnapshot(r *room, k stateKey, eventNID int64) {
	b.counters.SnapshotNID++
	sn := storage.Snapshot{NID: b.counters.SnapshotNID, RoomNID: r.nid, Parent: r.snapshot}
	if r.snapshotChain >= fullSnapshotEvery || r.snapshot == 0 {
		sn.Parent = 0
		for sk, se := range r.state {
			sn.Delta = append(sn.Delta, storage.StateEntry{Type: sk.EventType, StateKey: sk.StateKey, EventNID: se.nid})
		}
		r.snapshotChain = 0
	} else {
		sn.Delta = []storage.StateEntry{{Type: k.EventType, StateKey: k.StateKey, EventNID: eventNID}}
		r.snapshotChain++
	}
	r.snapshot = sn.NID
	b.write.Snapshots = append(b.write.Snapshots, sn)
}

// clientEvent is the client-server API's ClientEvent without room-specific
// rendering: what /sync, /messages and friends send.
type clientEvent struct {
	Content        json.RawMessage `json:"content"`
	EventID        string          `json:"event_id"`
	OriginServerTS spec.Timestamp  `json:"origin_server_ts"`
	Redacts        string          `json:"redacts,omitempty"`
	RoomID         string          `json:"room_id"`
	Sender         string          `json:"sender"`
	StateKey       *string         `json:"state_key,omitempty"`
	Type           string          `json:"type"`
	Unsigned       json.RawMessage `json:"unsigned,omitempty"`
}

// clientJSON renders an event once, when it is stored, so that no read path
// marshals it again. prev is the state event it replaces, if any.
func clientJSON(pdu gomatrixserverlib.PDU, prev *stateEvent) []byte {
	return renderClient(pdu, prev, nil)
}

func renderClient(pdu gomatrixserverlib.PDU, prev *stateEvent, redactedBecause json.RawMessage) []byte {
	unsigned := map[string]json.RawMessage{}
	if u := pdu.Unsigned(); len(u) > 0 {
		_ = json.Unmarshal(u, &unsigned)
	}
	if prev != nil {
		unsigned["prev_content"] = prev.pdu.Content()
		unsigned["replaces_state"], _ = json.Marshal(prev.pdu.EventID())
		unsigned["prev_sender"], _ = json.Marshal(string(prev.pdu.SenderID()))
	}
	if redactedBecause != nil {
		unsigned["redacted_because"] = redactedBecause
		// The spec's field is redacted_because; Synapse and Dendrite also
		// give the redaction's id alone, and tools written against them
		// read that.
		if id := gjson.GetBytes(redactedBecause, "event_id"); id.Type == gjson.String {
			unsigned["redacted_by"] = json.RawMessage(id.Raw)
		}
	}
	ce := clientEvent{
		Content: pdu.Content(), EventID: pdu.EventID(), OriginServerTS: pdu.OriginServerTS(), Redacts: redactsOf(pdu),
		RoomID: pdu.RoomID().String(), Sender: string(pdu.SenderID()), StateKey: pdu.StateKey(), Type: pdu.Type(),
	}
	if len(unsigned) > 0 {
		ce.Unsigned, _ = json.Marshal(unsigned)
	}
	out, _ := json.Marshal(&ce)
	return out
}

// redactsOf reads the redacted event id wherever the room version keeps it.
func redactsOf(pdu gomatrixserverlib.PDU) string {
	if pdu.Type() != spec.MRoomRedaction {
		return ""
	}
	if id := pdu.Redacts(); id != "" {
		return id
	}
	return gjson.GetBytes(pdu.Content(), "redacts").String()
}

// advance makes pdu a forward extremity in place of the prev_events it
// names, which are no longer extremities.
func (r *room) advance(pdu gomatrixserverlib.PDU) {
	prevIDs := pdu.PrevEventIDs()
	r.extremities = slices.DeleteFunc(r.extremities, func(id string) bool { return slices.Contains(prevIDs, id) })
	r.extremities = append(r.extremities, pdu.EventID())
	r.depth = max(r.depth, pdu.Depth())
	r.dirty = true
}
