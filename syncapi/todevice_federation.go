package syncapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/syncapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// To-device messages across servers (docs/decisions/0012). Messages for
// users of other servers go to the federation API, which queues one
// m.direct_to_device EDU per server; their message_id is derived from the
// sending device's session and the transaction id, so a retried request
// carries the same id and the receiver drops the copy. Messages from
// other servers come on bus.FederationToDeviceSubject, checked by the
// federation API, and go into the inboxes like local ones, once per
// origin and message_id.

// RemoteToDevice sends to-device messages to users of other servers; the
// federation API implements it.
type RemoteToDevice interface {
	SendToDevice(ctx context.Context, sender spec.UserID, evType, messageID string, messages map[string]map[string]json.RawMessage) error
}

// toDeviceConsumer is the durable consumer the sync API processes share.
const toDeviceConsumer = "syncapi-federation-to-device"

// toDeviceMessageID is the message_id of a request's messages to other
// servers: the same for a retry of the request (from the same device, to
// the same endpoint), 24 characters (the spec allows 32; the federation
// API may add a part number).
func toDeviceMessageID(dev *userapi.Device, evType, txnID string) string {
	h := sha256.Sum256([]byte(dev.UserID.String() + "\x00" + dev.ID + "\x00" + evType + "\x00" + txnID))
	return hex.EncodeToString(h[:12])
}

// sendRemoteToDevice hands the messages for users of other servers to the
// federation API. It returns once they are queued.
func (s *Server) sendRemoteToDevice(ctx context.Context, dev *userapi.Device, evType, txnID string, recipients []toDeviceRecipient) error {
	remote := map[string]map[string]json.RawMessage{}
	for _, rc := range recipients {
		if !s.cfg.IsLocal(rc.User.Domain()) {
			remote[rc.User.String()] = rc.Devices
		}
	}
	if len(remote) == 0 {
		return nil
	}
	if s.remoteTD == nil {
		slog.Debug("syncapi: to-device messages to other servers dropped: no federation", "sender", dev.UserID.String())
		return nil
	}
	return s.remoteTD.SendToDevice(ctx, dev.UserID, evType, toDeviceMessageID(dev, evType, txnID), remote)
}

// federatedToDevice is what the federation API puts on the bus.
type federatedToDevice struct {
	Origin    string                                `json:"origin"`
	Sender    string                                `json:"sender"`
	Type      string                                `json:"type"`
	MessageID string                                `json:"message_id"`
	Messages  map[string]map[string]json.RawMessage `json:"messages"`
}

// followFederationToDevice delivers the messages of other servers.
func (s *Server) followFederationToDevice(ctx context.Context) error {
	if err := s.bus.EnsureFederationToDeviceStream(ctx); err != nil {
		return err
	}
	c, err := s.bus.JS.CreateOrUpdateConsumer(ctx, bus.FederationToDeviceStream, jetstream.ConsumerConfig{
		Durable:       toDeviceConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 64,
	})
	if err != nil {
		return err
	}
	return s.consume(c, s.onFederationToDevice)
}

// onFederationToDevice stores one EDU's messages in the inboxes of the
// devices they name ("*": every device the user has now), unless they
// were stored before, and wakes the recipients' syncs.
func (s *Server) onFederationToDevice(msg jetstream.Msg) {
	var m federatedToDevice
	if err := json.Unmarshal(msg.Data(), &m); err != nil || m.Origin == "" || m.MessageID == "" {
		slog.Error("syncapi: bad to-device messages from the federation API", "err", err)
		_ = msg.Term()
		return
	}
	recipients := make([]toDeviceRecipient, 0, len(m.Messages))
	for id, devices := range m.Messages {
		if u, err := spec.NewUserID(id, true); err == nil && len(devices) > 0 {
			recipients = append(recipients, toDeviceRecipient{User: *u, Devices: devices})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := s.addressToDevice(ctx, m.Sender, m.Type, recipients)
	var me *mxhttp.Error
	if errors.As(err, &me) {
		slog.Warn("syncapi: to-device messages from another server refused", "origin", m.Origin, "err", err)
		_ = msg.Term()
		return
	}
	if err != nil {
		_ = msg.NakWithDelay(5 * time.Second)
		return
	}
	pos, dup, err := s.store.PutToDevice(ctx, storage.ToDeviceTxn{UserID: m.Origin, TxnID: m.MessageID}, msgs)
	if err != nil {
		slog.Warn("syncapi: store to-device messages from another server", "origin", m.Origin, "err", err)
		_ = msg.NakWithDelay(5 * time.Second)
		return
	}
	if !dup {
		woken := map[string]bool{}
		for _, t := range msgs {
			if !woken[t.UserID] {
				woken[t.UserID] = true
				s.publishWake(syncWake{ToDevice: pos, UserID: t.UserID})
			}
		}
	}
	_ = msg.Ack()
}
