package federationapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go"

	"github.com/rohrpost/rohrpost/internal/bus"
)

// Local users' device and cross-signing key changes go to every server
// that shares a room with the user, as m.device_list_update and
// m.signing_key_update EDUs through the send queue (docs/decisions/0012).
// The user API keeps the changes in its key change stream and the sender's
// place in it, so nothing is lost when we stop between a change and its
// EDU: the sender starts where it left off. It wakes on each key change
// announced on the bus and looks anyway every few seconds (a wake is not
// durable).

const (
	deviceListBatch        = 100
	deviceListPollInterval = 5 * time.Second
)

// runDeviceListSender sends until ctx ends.
func (s *Server) runDeviceListSender(ctx context.Context, wake <-chan struct{}) {
	tick := time.NewTicker(deviceListPollInterval)
	defer tick.Stop()
	for {
		for s.sendDeviceListBatch(ctx) {
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
		}
	}
}

// sendDeviceListBatch queues the EDUs of one batch of key changes and
// moves the sender's place past them; it tells whether there may be more.
// A batch that fails is tried again from the start: receivers drop an
// update they hold already by its stream_id.
func (s *Server) sendDeviceListBatch(ctx context.Context) bool {
	out, err := s.users.PendingDeviceListUpdates(ctx, deviceListBatch)
	if err != nil {
		if ctx.Err() == nil {
			slog.Warn("federation: pending device list updates", "err", err)
		}
		return false
	}
	if out.To <= out.From {
		return false
	}
	servers := map[string][]spec.ServerName{}
	for _, u := range out.Updates {
		id := u.UserID.String()
		dests, ok := servers[id]
		if !ok {
			if dests, err = s.rooms.SharedServers(ctx, u.UserID); err != nil {
				slog.Warn("federation: servers sharing rooms", "user", id, "err", err)
				return false
			}
			servers[id] = dests
		}
		edu := gomatrixserverlib.EDU{Type: u.Type, Origin: string(u.UserID.Domain()), Content: spec.RawJSON(u.Content)}
		if err := s.queue.SendEDU(ctx, dests, edu); err != nil {
			slog.Warn("federation: queue device list update", "user", id, "err", err)
			return false
		}
	}
	if err := s.users.AckDeviceListUpdates(ctx, out.From, out.To); err != nil {
		slog.Warn("federation: device list updates sent", "err", err)
		return false
	}
	return true
}

// followKeyChanges wakes the sender on every key change; one federation
// API process of a deployment hears each.
func followKeyChanges(b *bus.Conn, wake chan<- struct{}) (*nats.Subscription, error) {
	return b.NC.QueueSubscribe(bus.KeyChangesSubject, "federationapi-device-lists", func(*nats.Msg) {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
}
