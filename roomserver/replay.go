package roomserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rohrpost/rohrpost/internal/bus"
)

// An event is committed before it is published, so a crash in between
// leaves it in the database but not on the bus. On start the roomserver
// compares the newest position on the bus with the database and publishes
// what is missing, in order, so consumers of the output stream (federation)
// never miss an acknowledged event.

const replayPage = 500

// replayUnpublished publishes committed events the bus has not seen.
func (s *Server) replayUnpublished(ctx context.Context) error {
	if s.bus == nil {
		return nil
	}
	last, err := s.lastPublished(ctx)
	if err != nil {
		return err
	}
	for last < s.counters.StreamPos {
		evs, rooms, err := s.store.StreamEventsAfter(ctx, last, replayPage)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		outputs := make([]OutputEvent, len(evs))
		for i, e := range evs {
			outputs[i] = OutputEvent{RoomID: rooms[i], RoomNID: e.RoomNID, EventID: e.ID, StreamPos: e.StreamPos, Type: e.Type,
				StateKey: e.StateKey, Sender: e.Sender, Membership: e.Membership, PDU: e.PDU}
		}
		s.publish(outputs)
		last = evs[len(evs)-1].StreamPos
	}
	return nil
}

// lastPublished is the stream position of the newest output event on the bus.
func (s *Server) lastPublished(ctx context.Context) (int64, error) {
	stream, err := s.bus.JS.Stream(ctx, bus.RoomEventsStream)
	if err != nil {
		return 0, fmt.Errorf("output stream: %w", err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, bus.RoomEventsSubject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last output event: %w", err)
	}
	var ev OutputEvent
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		return 0, fmt.Errorf("last output event: %w", err)
	}
	return ev.StreamPos, nil
}
