package syncapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/syncapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// To-device messages (the end-to-end encryption's key exchange) wait in
// each device's inbox until the device syncs with a token past them: a
// sync delivers them, and the next sync from its next_batch acknowledges
// and deletes them. A device that loses a response gets the same
// messages again. Messages to users of other servers need federation and
// are not sent yet.

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
	var body struct {
		Messages map[string]map[string]json.RawMessage `json:"messages"`
	}
	if err := mxhttp.DecodeJSON(r, maxToDeviceBody, &body); err != nil {
		return nil, err
	}
	if body.Messages == nil {
		return nil, mxhttp.BadJSON("messages is required")
	}
	ctx := r.Context()
	var msgs []storage.ToDevice
	for userID, byDevice := range body.Messages {
		user, err := spec.NewUserID(userID, true)
		if err != nil {
			return nil, mxhttp.InvalidParam("invalid user id " + userID)
		}
		if !s.cfg.IsLocal(user.Domain()) {
			continue // federation comes later
		}
		for deviceID, content := range byDevice {
			if len(content) == 0 || content[0] != '{' {
				return nil, mxhttp.BadJSON("message content must be an object")
			}
			targets := []string{deviceID}
			if deviceID == "*" {
				devices, err := s.users.Devices(ctx, *user)
				if err != nil {
					return nil, err
				}
				targets = targets[:0]
				for _, d := range devices {
					targets = append(targets, d.DeviceID)
				}
			}
			for _, d := range targets {
				msgs = append(msgs, storage.ToDevice{UserID: userID, DeviceID: d, Sender: dev.UserID.String(), Type: evType, Content: content})
			}
			if len(msgs) > maxToDeviceRecipients {
				return nil, &mxhttp.Error{Status: http.StatusRequestEntityTooLarge, Code: "M_TOO_LARGE", Msg: "Too many recipients in one request"}
			}
		}
	}
	pos, dup, err := s.store.PutToDevice(ctx, dev.SessionID, txnID, msgs)
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
	events := make([]json.RawMessage, 0, len(msgs))
	for _, m := range msgs {
		ev, _ := json.Marshal(map[string]any{"sender": m.Sender, "type": m.Type, "content": m.Content})
		events = append(events, ev)
	}
	next := max(to, since)
	if len(msgs) == maxToDevicePerSync {
		next = msgs[len(msgs)-1].Pos
	}
	return events, next, nil
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
