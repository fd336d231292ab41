package roomserver

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/tidwall/gjson"
)

// Self-destructing events (MSC2228): a message event whose content carries
// org.matrix.self_destruct_after, a time in milliseconds since the epoch,
// is pruned at that time as if redacted, without a redaction event. The
// stored copy itself is replaced, so the content is gone for everyone who
// reads it from this server afterwards (clients that already hold it keep
// their copy, as with any redaction). Only the roomserver writes events,
// so it runs the clock: the due time is stored with the event, and a loop
// wakes for the earliest.

const (
	selfDestructField = `org\.matrix\.self_destruct_after`
	// selfDestructBatch bounds how many events one round prunes.
	selfDestructBatch = 100
	// selfDestructMaxWait is how long the loop sleeps with nothing due,
	// and how long it backs off after a failure.
	selfDestructMaxWait = time.Minute
)

// selfDestructAt is when a new event asks to be pruned, 0 for never. State
// events are left alone: pruning them would change the room's state
// outside the DAG.
func selfDestructAt(pdu gomatrixserverlib.PDU) int64 {
	if pdu.StateKey() != nil || pdu.Type() == spec.MRoomRedaction {
		return 0
	}
	v := gjson.GetBytes(pdu.Content(), selfDestructField)
	if v.Type != gjson.Number || v.Int() <= 0 {
		return 0
	}
	return v.Int()
}

// wakeSelfDestruct tells the loop that an event with a due time was
// stored; it may be earlier than the one the loop waits for.
func (s *Server) wakeSelfDestruct() {
	select {
	case s.selfDestructWake <- struct{}{}:
	default:
	}
}

// selfDestructLoop prunes events as they come due, until the server stops.
func (s *Server) selfDestructLoop() {
	ctx := context.Background()
	for {
		wait := selfDestructMaxWait
		if ts, ok, err := s.store.NextSelfDestruct(ctx); err != nil {
			slog.Warn("roomserver: next self-destructing event", "err", err)
		} else if ok {
			wait = min(wait, time.Until(time.UnixMilli(ts)))
		}
		if wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-timer.C:
			case <-s.selfDestructWake:
				timer.Stop()
				continue
			case <-s.quit:
				timer.Stop()
				return
			}
		}
		n, due, err := s.pruneDue(ctx)
		if err != nil || (due > 0 && n == 0) {
			// Something is due but could not be pruned: do not spin.
			// (Nothing due yet, as when the timer fired within the
			// millisecond before the due time, is no failure: look again.)
			if err != nil {
				slog.Warn("roomserver: prune self-destructing events", "err", err)
			}
			select {
			case <-time.After(selfDestructMaxWait):
			case <-s.quit:
				return
			}
		}
	}
}

// pruneDue prunes the events due now and returns how many it pruned and
// how many were due.
func (s *Server) pruneDue(ctx context.Context) (pruned, dueCount int, err error) {
	due, err := s.store.DueSelfDestructs(ctx, time.Now().UnixMilli(), selfDestructBatch)
	if err != nil || len(due) == 0 {
		return 0, 0, err
	}
	nids := make([]int64, len(due))
	for i, e := range due {
		nids[i] = e.NID
	}
	res, err := s.submit(ctx, func(b *batch) (any, error) {
		// Read again inside the input loop: a redaction may have been
		// applied since, and its copy must stay.
		evs, err := s.store.EventsByNID(ctx, nids)
		if err != nil {
			return 0, err
		}
		n := 0
		for _, e := range evs {
			if e.Redacted {
				continue
			}
			room, err := s.store.RoomByNID(ctx, e.RoomNID)
			if err != nil {
				return 0, err
			}
			if err := b.prune(room.Version, e); err != nil {
				// Left due; the others still go.
				slog.Warn("roomserver: prune self-destructing event", "event_id", e.ID, "err", err)
				continue
			}
			n++
		}
		return n, nil
	})
	if err != nil {
		return 0, len(due), err
	}
	return res.(int), len(due), nil
}

// prune replaces a stored event with its redacted form, without a
// redaction event.
func (b *batch) prune(roomVersion string, e *storage.Event) error {
	version, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(roomVersion))
	if err != nil {
		return err
	}
	redactedJSON, err := version.RedactEventJSON(e.PDU)
	if err != nil {
		return fmt.Errorf("redact: %w", err)
	}
	redacted, err := version.NewEventFromTrustedJSONWithEventID(e.ID, redactedJSON, true)
	if err != nil {
		return fmt.Errorf("redacted event: %w", err)
	}
	b.write.Redactions = append(b.write.Redactions, storage.Redaction{EventNID: e.NID, PDU: redactedJSON, Client: renderClient(redacted, nil, nil)})
	return nil
}
