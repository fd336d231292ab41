package delayedevents

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/roomserver"
)

// stateConsumer is the durable consumer of the room event stream the
// client API processes share, so each state event is looked at once.
const stateConsumer = "delayed-events"

// followState cancels the delayed state events that another user's
// state event has overwritten since they were scheduled: sent later,
// they would undo someone else's change (a moderator's, or another
// device's call membership). The user's own state events cancel nothing;
// a client in a call sets its membership and keeps its delayed leave.
// That is what Synapse does; MSC4140 leaves the conflict open.
func (s *Service) followState(ctx context.Context) (stopper, error) {
	c, err := s.bus.JS.CreateOrUpdateConsumer(ctx, bus.RoomEventsStream, jetstream.ConsumerConfig{
		Durable:       stateConsumer,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 256,
		MaxDeliver:    5,
	})
	if err != nil {
		return nil, fmt.Errorf("delayed events state consumer: %w", err)
	}
	cc, err := c.Consume(func(msg jetstream.Msg) {
		if err := s.onRoomEvent(msg.Data()); err != nil {
			slog.Warn("delayed events: cancel overwritten state", "err", err)
			_ = msg.NakWithDelay(5 * time.Second)
			return
		}
		_ = msg.Ack()
	})
	if err != nil {
		return nil, fmt.Errorf("delayed events state consumer: %w", err)
	}
	return cc, nil
}

func (s *Service) onRoomEvent(data []byte) error {
	var out roomserver.OutputEvent
	if err := json.Unmarshal(data, &out); err != nil {
		slog.Error("delayed events: bad output event", "err", err)
		return nil
	}
	if out.StateKey == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	n, err := s.store.CancelOverwritten(ctx, out.RoomID, out.Type, *out.StateKey, out.Sender, s.nowMS())
	if n > 0 {
		slog.Info("delayed events: cancelled, state overwritten", "room", out.RoomID, "type", out.Type, "by", out.Sender, "count", n)
	}
	return err
}
