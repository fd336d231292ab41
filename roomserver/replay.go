package roomserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rohrpost/rohrpost/internal/bus"
)

// An event is committed before it is published, so a crash in between
// leaves it in the database but not on the bus. On start the roomserver
// compares the newest position on the bus with the database and publishes
// what is missing, in order, so consumers of the output stream (federation)
// never miss an acknowledged event.
//
// The stream drops messages after a while (bus.RoomEventsMaxAge), so after
// a quiet spell the bus has nothing to compare with. The roomserver
// therefore also records in its database how far it has published, a
// second behind at most; replaying from there sends the events of that
// second again, which the bus drops as duplicates of the message ids it
// has seen.

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
	recorded, err := s.store.PublishedPosition(ctx)
	if err != nil {
		return fmt.Errorf("published position: %w", err)
	}
	last = max(last, recorded)
	s.published.Store(last)
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

// notePublished moves the published position to the newest of outputs,
// all of which the bus has taken.
func (s *Server) notePublished(outputs []OutputEvent) {
	var newest int64
	for i := range outputs {
		newest = max(newest, outputs[i].StreamPos)
	}
	if newest > s.published.Load() {
		s.published.Store(newest)
	}
}

// recordPublishedEvery is how far the recorded position may lag; the
// events of that span are published again after a crash.
const recordPublishedEvery = time.Second

func (s *Server) recordPublishedLoop() {
	t := time.NewTicker(recordPublishedEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.recordPublished()
		case <-s.quit:
			return
		}
	}
}

// recordPublished writes the published position when it moved.
func (s *Server) recordPublished() {
	s.recordMu.Lock()
	defer s.recordMu.Unlock()
	pos := s.published.Load()
	if pos == s.recordedPublished {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.store.SetPublishedPosition(ctx, pos); err != nil {
		slog.Warn("roomserver: recording the published position", "err", err)
		return
	}
	s.recordedPublished = pos
}
