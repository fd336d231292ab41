package roomserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// maxEventSize is the spec's limit on a whole event's JSON.
const maxEventSize = 65536

// SendEvent builds a local event and runs it through the input path.
func (s *Server) SendEvent(ctx context.Context, req SendEventRequest) (*SendEventResponse, error) {
	if len(req.Content) > maxEventSize {
		return nil, fmt.Errorf("%w: content exceeds %d bytes", ErrTooLarge, maxEventSize)
	}
	if req.Type == "m.room.tombstone" && gjson.GetBytes(req.Content, "replacement_room").String() == req.RoomID {
		return nil, fmt.Errorf("%w: a tombstone cannot point to its own room", ErrBadEvent)
	}
	commits := s.commits.Load()
	txn := storage.TxnKey{UserID: req.Sender.String(), DeviceID: req.TxnDevice, Endpoint: req.TxnEndpoint, TxnID: req.TxnID}
	if req.TxnID != "" {
		if id, err := s.store.TxnEventID(ctx, txn); err != nil {
			return nil, err
		} else if id != "" {
			return &SendEventResponse{EventID: id}, nil
		}
	}
	res, err := s.submit(ctx, func(b *batch) (any, error) {
		if req.TxnID != "" {
			if id, ok := b.txns[txn]; ok {
				return &SendEventResponse{EventID: id}, nil
			}
			// A send with the same transaction id (a client's retry)
			// may have committed since the look above: the input loop
			// has the last word, and one transaction id makes one event.
			if s.commits.Load() != commits {
				if id, err := s.store.TxnEventID(ctx, txn); err != nil {
					return nil, err
				} else if id != "" {
					return &SendEventResponse{EventID: id}, nil
				}
			}
		}
		r, err := b.room(ctx, req.RoomID)
		if err != nil {
			return nil, err
		}
		if id := unchangedState(r, req); id != "" {
			return &SendEventResponse{EventID: id}, nil
		}
		pdu, err := b.build(r, req.Sender, req.Type, req.StateKey, req.Content, req.Redacts)
		if err != nil {
			return nil, err
		}
		redaction, err := b.checkRedaction(ctx, r, pdu, false)
		if err != nil {
			return nil, err
		}
		ev := b.apply(r, pdu, eventMeta{txnSession: req.TxnSession, txn: txn})
		if redaction != nil {
			b.applyRedaction(r, redaction, ev)
		}
		return &SendEventResponse{EventID: ev.ID, StreamPos: ev.StreamPos}, nil
	})
	if err != nil {
		return nil, err
	}
	return res.(*SendEventResponse), nil
}

// build makes, signs and authorises a local event on top of the room's
// current state and forward extremities.
func (b *batch) build(r *room, sender spec.UserID, evType string, stateKey *string, content json.RawMessage, redacts string) (gomatrixserverlib.PDU, error) {
	key, ok := b.s.keys[string(sender.Domain())]
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a local user", ErrForbidden, sender.String())
	}
	if len(content) == 0 {
		content = json.RawMessage("{}")
	}
	// From room version 6 on, other servers reject events whose JSON is
	// not canonical (floats, integers beyond ±(2^53-1)); refuse them here.
	if err := r.version.CheckCanonicalJSON(content); err != nil {
		return nil, fmt.Errorf("%w: content is not canonical JSON for room version %s: integers must lie within ±(2^53-1) and floats are not allowed", ErrBadEvent, r.version.Version())
	}
	proto := &gomatrixserverlib.ProtoEvent{
		SenderID: sender.String(), RoomID: r.id, Type: evType, StateKey: stateKey, Content: spec.RawJSON(content),
	}
	if evType == spec.MRoomRedaction && redacts != "" {
		if redactsInContent(r.version) {
			c, err := sjson.SetBytes(content, "redacts", redacts)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
			}
			proto.Content = spec.RawJSON(c)
		} else {
			// Before version 11 redacts is a top-level key only; a client
			// sending the redaction through /send put it in the content.
			c, err := sjson.DeleteBytes(content, "redacts")
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
			}
			proto.Content, proto.Redacts = spec.RawJSON(c), redacts
		}
	}
	builder := r.version.NewEventBuilderFromProtoEvent(proto)
	prev := append([]string{}, r.extremities...)
	if len(prev) > 20 {
		prev = prev[len(prev)-20:]
	}
	builder.PrevEvents = prev
	builder.Depth = r.depth + 1
	if err := builder.AddAuthEvents(r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	pdu, err := builder.Build(time.Now(), sender.Domain(), key.ID, key.Private)
	var invalid gomatrixserverlib.EventValidationError
	if errors.As(err, &invalid) && invalid.Code == gomatrixserverlib.EventValidationTooLarge {
		// The whole event, or its type or state key, is over the spec's
		// size limits: M_TOO_LARGE, not malformed.
		return nil, fmt.Errorf("%w: %v", ErrTooLarge, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if len(pdu.JSON()) > maxEventSize {
		return nil, fmt.Errorf("%w: event exceeds %d bytes", ErrTooLarge, maxEventSize)
	}
	if err := authorise(r, pdu); err != nil {
		return nil, err
	}
	return pdu, nil
}

// redactsInContent tells whether the room version moved "redacts" into the
// event content (v11 and later).
func redactsInContent(v gomatrixserverlib.IRoomVersion) bool {
	switch v.Version() {
	case gomatrixserverlib.RoomVersionV1, gomatrixserverlib.RoomVersionV2, gomatrixserverlib.RoomVersionV3,
		gomatrixserverlib.RoomVersionV4, gomatrixserverlib.RoomVersionV5, gomatrixserverlib.RoomVersionV6,
		gomatrixserverlib.RoomVersionV7, gomatrixserverlib.RoomVersionV8, gomatrixserverlib.RoomVersionV9,
		gomatrixserverlib.RoomVersionV10:
		return false
	}
	return true
}

// unchangedState returns the current state event's id when req would
// replace it with the same content from the same sender: sending a state
// event twice (or joining twice) does not create a new event.
func unchangedState(r *room, req SendEventRequest) string {
	if req.StateKey == nil {
		return ""
	}
	cur := r.get(req.Type, *req.StateKey)
	if cur == nil || string(cur.pdu.SenderID()) != req.Sender.String() {
		return ""
	}
	a, err1 := gomatrixserverlib.CanonicalJSON(cur.pdu.Content())
	b, err2 := gomatrixserverlib.CanonicalJSON(req.Content)
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		return ""
	}
	return cur.pdu.EventID()
}
