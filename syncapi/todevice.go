package syncapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/syncapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// To-device messages (the end-to-end encryption's key exchange) wait in
// each device's inbox until the device syncs with a token past them: a
// sync delivers them, and the next sync from its next_batch acknowledges
// and deletes them. A device that loses a response gets the same
// messages again. Messages to and from users of other servers go through
// the federation API (todevice_federation.go).

const (
	// maxToDevicePerSync bounds one response; the rest comes next sync.
	maxToDevicePerSync = 100
	// maxToDeviceRecipients bounds one request's fan-out.
	maxToDeviceRecipients = 10000
	// maxToDeviceBody bounds a request body (Olm messages to many devices).
	maxToDeviceBody = 1 << 20
)

// handleSendToDevice is PUT /sendToDevice/{eventType}/{txnId}.
func (s *Server) handleSendToDevice(r *http.Request, dev *userapi.Device) (any, error) {
	v := mux.Vars(r)
	evType, txnID := v["eventType"], v["txnId"]
	body, err := mxhttp.ReadBody(r, maxToDeviceBody)
	if err != nil {
		return nil, err
	}
	recipients, err := parseSendToDevice(body)
	if err != nil {
		return nil, err
	}
	msgs, err := s.addressToDevice(r.Context(), dev.UserID.String(), evType, recipients)
	if err != nil {
		return nil, err
	}
	// Other servers' users first: a request that fails there is retried
	// whole, and only a request stored here counts as done.
	txn := storage.ToDeviceTxn{UserID: dev.UserID.String(), DeviceID: dev.ID, EventType: evType, TxnID: txnID}
	if seen, err := s.store.ToDeviceTxnSeen(r.Context(), txn); err != nil || seen {
		return struct{}{}, err
	}
	if err := s.sendRemoteToDevice(r.Context(), dev, evType, txnID, recipients); err != nil {
		return nil, err
	}
	pos, dup, err := s.store.PutToDevice(r.Context(), txn, msgs)
	if err != nil {
		return nil, err
	}
	if !dup {
		woken := map[string]bool{}
		for _, m := range msgs {
			if !woken[m.UserID] {
				woken[m.UserID] = true
				s.publishWake(syncWake{ToDevice: pos, UserID: m.UserID})
			}
		}
	}
	return struct{}{}, nil
}

// addressToDevice turns a request's recipients into one inbox message per
// existing device of a local user. A device id that does not exist gets
// nothing, as if the device had been deleted right after the message was
// delivered; "*" is every device the user has now. Users of other servers
// are left out: sendRemoteToDevice takes their messages.
func (s *Server) addressToDevice(ctx context.Context, sender, evType string, recipients []toDeviceRecipient) ([]storage.ToDevice, error) {
	users := make([]string, 0, len(recipients))
	for _, rc := range recipients {
		if s.cfg.IsLocal(rc.User.Domain()) {
			users = append(users, rc.User.String())
		}
	}
	if len(users) == 0 {
		return nil, nil
	}
	existing, err := s.accountData.DeviceIDsOf(ctx, users)
	if err != nil {
		return nil, err
	}
	var msgs []storage.ToDevice
	for _, rc := range recipients {
		user := rc.User.String()
		devices := existing[user]
		if len(devices) == 0 {
			continue // a remote user, or a local one without devices
		}
		// A device named by itself and in "*" gets the named content once.
		all, hasAll := rc.Devices["*"]
		for _, d := range devices {
			content, ok := rc.Devices[d]
			if !ok && hasAll {
				content, ok = all, true
			}
			if ok {
				msgs = append(msgs, storage.ToDevice{UserID: user, DeviceID: d, Sender: sender, Type: evType, Content: content})
			}
		}
		if len(msgs) > maxToDeviceRecipients {
			return nil, tooManyRecipients()
		}
	}
	return msgs, nil
}

// toDeviceEvents acknowledges what the device received up to since and
// returns what comes after, up to to, with the position the next token
// takes: to, or the last message delivered when more wait.
func (s *Server) toDeviceEvents(ctx context.Context, dev *userapi.Device, since, to int64, initial bool) ([]json.RawMessage, int64, error) {
	user := dev.UserID.String()
	if !initial && since > 0 {
		if err := s.store.AckToDevice(ctx, user, dev.ID, since); err != nil {
			return nil, 0, err
		}
	}
	from := since
	if initial {
		// A fresh sync acknowledges nothing: pending messages come again.
		from = 0
	}
	msgs, err := s.store.ToDeviceFor(ctx, user, dev.ID, from, to, maxToDevicePerSync)
	if err != nil {
		return nil, 0, err
	}
	events := toDeviceJSON(msgs)
	next := max(to, since)
	if len(msgs) == maxToDevicePerSync {
		next = msgs[len(msgs)-1].Pos
	}
	return events, next, nil
}

// toDeviceJSON is messages as /sync delivers them.
func toDeviceJSON(msgs []storage.ToDevice) []json.RawMessage {
	events := make([]json.RawMessage, 0, len(msgs))
	for _, m := range msgs {
		ev, _ := json.Marshal(struct {
			Sender  string          `json:"sender"`
			Type    string          `json:"type"`
			Content json.RawMessage `json:"content"`
		}{m.Sender, m.Type, m.Content})
		events = append(events, ev)
	}
	return events
}

// onDevicesDeleted drops the inboxes of deleted devices.
func (s *Server) onDevicesDeleted(data []byte) {
	var d userapi.DevicesDeleted
	if err := json.Unmarshal(data, &d); err != nil {
		slog.Warn("syncapi: bad deleted devices", "err", err)
		return
	}
	if err := s.store.DropToDevice(context.Background(), d.UserID, d.DeviceIDs); err != nil {
		slog.Warn("syncapi: drop to-device inboxes", "user", d.UserID, "err", err)
	}
}
