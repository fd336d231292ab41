package roomserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/roomserver/storage"
)

// redactionTarget is an event a redaction will strip once stored.
type redactionTarget struct {
	nid      int64
	pdu      gomatrixserverlib.PDU
	stateKey *stateKey
}

// checkRedaction decides, before the redaction is applied, whether it may
// strip its target: the spec lets the sender redact its own events, or any
// event with the redact power level. A redaction of an unknown or foreign
// event is still stored, it just strips nothing.
// sameServer is true for events from other servers: a server may redact
// its own users' events (the spec's rule for redactions it did not
// check itself).
func (b *batch) checkRedaction(ctx context.Context, r *room, pdu gomatrixserverlib.PDU, sameServer bool) (*redactionTarget, error) {
	targetID := redactsOf(pdu)
	if targetID == "" {
		return nil, nil
	}
	var target *storage.Event
	for i := range b.write.Events {
		if b.write.Events[i].ID == targetID {
			target = &b.write.Events[i]
		}
	}
	if target == nil {
		t, err := b.s.store.EventByID(ctx, targetID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		target = t
	}
	if target.RoomNID != r.nid || target.Redacted {
		return nil, nil
	}
	if target.Sender != string(pdu.SenderID()) {
		plEv := r.get(spec.MRoomPowerLevels, "")
		allowed := sameServer && serverOf(target.Sender) != "" && serverOf(target.Sender) == serverOf(string(pdu.SenderID()))
		if plEv != nil {
			if pl, err := plEv.pdu.PowerLevels(); err == nil {
				allowed = pl.UserLevel(pdu.SenderID()) >= pl.Redact
			}
		}
		if create := r.get(spec.MRoomCreate, ""); !allowed && r.version.PrivilegedCreators() && create != nil && create.pdu.SenderID() == pdu.SenderID() {
			allowed = true
		}
		if !allowed {
			return nil, fmt.Errorf("%w: you may not redact other users' events", ErrForbidden)
		}
	}
	tpdu, err := r.version.NewEventFromTrustedJSONWithEventID(target.ID, target.PDU, false)
	if err != nil {
		return nil, err
	}
	rt := &redactionTarget{nid: target.NID, pdu: tpdu}
	if target.StateKey != nil {
		k := stateKey{EventType: target.Type, StateKey: *target.StateKey}
		if cur := r.state[k]; cur != nil && cur.nid == target.NID {
			rt.stateKey = &k
		}
	}
	return rt, nil
}

// applyRedaction stores the redacted form of the target.
func (b *batch) applyRedaction(r *room, t *redactionTarget, redaction *storage.Event) {
	redactedJSON, err := r.version.RedactEventJSON(t.pdu.JSON())
	if err != nil {
		return
	}
	redacted, err := r.version.NewEventFromTrustedJSONWithEventID(t.pdu.EventID(), redactedJSON, true)
	if err != nil {
		return
	}
	client := renderClient(redacted, nil, redaction.Client)
	b.write.Redactions = append(b.write.Redactions, storage.Redaction{EventNID: t.nid, PDU: redactedJSON, Client: client})
	for i := range b.write.Events {
		if b.write.Events[i].NID == t.nid {
			b.write.Events[i].PDU, b.write.Events[i].Client, b.write.Events[i].Redacted = redactedJSON, client, true
		}
	}
	if t.stateKey != nil {
		r.setState(*t.stateKey, &stateEvent{nid: t.nid, pdu: redacted, client: client})
	}
}

// serverOf is the server name of a user id, "" when it is not one.
func serverOf(user string) spec.ServerName {
	u, err := spec.NewUserID(user, true)
	if err != nil {
		return ""
	}
	return u.Domain()
}
