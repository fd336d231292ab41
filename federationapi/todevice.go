package federationapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rohrpost/rohrpost/internal/bus"
)

// To-device messages across servers (docs/decisions/0012). Outgoing: one
// m.direct_to_device EDU per destination server through the send queue,
// with the sender's message_id, which the caller derives from the
// client's transaction so that a retried request carries the same id.
// Incoming: checked here, then handed to the sync API on the bus, which
// delivers each (origin, message_id) once.

// maxToDeviceEDUBytes splits a large fan-out to one server into several
// EDUs, so that no transaction grows past what servers accept.
const maxToDeviceEDUBytes = 256 << 10

// SendToDevice queues to-device messages of a local user for users of
// other servers (messages by user, then device id or "*"). Servers the
// policy refuses are left out, as are local users.
func (s *Server) SendToDevice(ctx context.Context, sender spec.UserID, evType, messageID string, messages map[string]map[string]json.RawMessage) error {
	if !s.isLocal(sender.Domain()) {
		return fmt.Errorf("%w: %s is not a local user", ErrNotAllowed, sender.String())
	}
	for name, users := range byServer(s, messages) {
		if !s.policy.Allowed(name) {
			slog.Info("federation: to-device messages to a refused server dropped", "server", name)
			continue
		}
		for i, part := range splitToDevice(users) {
			id := messageID
			if i > 0 {
				id += "." + strconv.Itoa(i)
			}
			content, err := json.Marshal(gomatrixserverlib.ToDeviceMessage{Sender: sender.String(), Type: evType, MessageID: id, Messages: part})
			if err != nil {
				return err
			}
			edu := gomatrixserverlib.EDU{Type: spec.MDirectToDevice, Origin: string(sender.Domain()), Content: content}
			if err := s.queue.SendEDU(ctx, []spec.ServerName{name}, edu); err != nil {
				return err
			}
		}
	}
	return nil
}

// splitToDevice cuts one server's messages into parts of about
// maxToDeviceEDUBytes, whole users each, in a stable order.
func splitToDevice(users map[string]map[string]json.RawMessage) []map[string]map[string]json.RawMessage {
	ids := make([]string, 0, len(users))
	for u := range users {
		ids = append(ids, u)
	}
	slices.Sort(ids)
	var parts []map[string]map[string]json.RawMessage
	cur, size := map[string]map[string]json.RawMessage{}, 0
	for _, u := range ids {
		n := len(u)
		for d, m := range users[u] {
			n += len(d) + len(m)
		}
		if size > 0 && size+n > maxToDeviceEDUBytes {
			parts = append(parts, cur)
			cur, size = map[string]map[string]json.RawMessage{}, 0
		}
		cur[u] = users[u]
		size += n
	}
	if len(cur) > 0 {
		parts = append(parts, cur)
	}
	return parts
}

// onDirectToDevice takes m.direct_to_device: messages of a user of origin
// for local users' devices.
func (s *Server) onDirectToDevice(ctx context.Context, origin spec.ServerName, content json.RawMessage) error {
	msg, err := parseDirectToDevice(origin, content, s.isLocal)
	if err != nil {
		return err
	}
	if len(msg.Messages) == 0 {
		return nil
	}
	if s.e2ee.bus == nil {
		return fmt.Errorf("no bus to hand to-device messages on")
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	// The stream drops a second copy within its window; the sync API
	// drops later ones by (origin, message_id).
	_, err = s.e2ee.bus.JS.Publish(ctx, bus.FederationToDeviceSubject, data,
		jetstream.WithMsgID(string(origin)+"|"+msg.MessageID))
	if err != nil {
		return fmt.Errorf("hand to-device messages to the sync API: %w", err)
	}
	return nil
}
