package syncapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/syncapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

const maxTypingTimeout = 2 * time.Minute

// handleTyping is PUT /rooms/{roomId}/typing/{userId}.
func (s *Server) handleTyping(r *http.Request, dev *userapi.Device) (any, error) {
	v := mux.Vars(r)
	if v["userId"] != dev.UserID.String() {
		return nil, mxhttp.Forbidden("You cannot set the typing state of another user")
	}
	var body struct {
		Typing  *bool  `json:"typing"`
		Timeout *int64 `json:"timeout"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	if body.Typing == nil {
		return nil, mxhttp.BadJSON("typing is required")
	}
	a, err := s.access(r.Context(), dev, v["roomId"])
	if err != nil {
		return nil, err
	}
	if !a.joined {
		return nil, mxhttp.Forbidden("You are not joined to this room")
	}
	if dev.ShadowBanned {
		// As the user's sends (clientapi/shadow_ban.go): answered, not shown.
		return struct{}{}, nil
	}
	timeout := 30 * time.Second
	if body.Timeout != nil && *body.Timeout > 0 {
		timeout = min(time.Duration(*body.Timeout)*time.Millisecond, maxTypingTimeout)
	}
	u := typingUpdate{RoomID: a.roomID, UserID: dev.UserID.String(), Typing: *body.Typing}
	if u.Typing {
		u.TimeoutMS = timeout.Milliseconds()
	}
	if err := s.publishTyping(r.Context(), u, ""); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

var receiptTypes = map[string]bool{"m.read": true, "m.read.private": true, "m.fully_read": true}

// handleReceipt is POST /rooms/{roomId}/receipt/{receiptType}/{eventId}.
func (s *Server) handleReceipt(r *http.Request, dev *userapi.Device) (any, error) {
	v := mux.Vars(r)
	if !receiptTypes[v["receiptType"]] {
		return nil, mxhttp.InvalidParam("unknown receipt type")
	}
	var body struct {
		ThreadID string `json:"thread_id"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	if v["receiptType"] == "m.fully_read" {
		if body.ThreadID != "" {
			return nil, mxhttp.InvalidParam("m.fully_read takes no thread_id")
		}
		return struct{}{}, s.setFullyRead(r, dev, v["roomId"], v["eventId"])
	}
	return struct{}{}, s.putReceipt(r, dev, v["roomId"], v["receiptType"], v["eventId"], body.ThreadID)
}

func (s *Server) putReceipt(r *http.Request, dev *userapi.Device, roomID, receiptType, eventID, threadID string) error {
	a, e, err := s.visibleEvent(r, dev, roomID, eventID)
	if err != nil {
		return err
	}
	rec := storage.Receipt{
		RoomID: a.roomID, UserID: dev.UserID.String(), Type: receiptType, ThreadID: threadID,
		EventID: e.ID, EventPos: e.StreamPos, TS: time.Now().UnixMilli(),
	}
	pos, err := s.store.PutReceipt(r.Context(), rec)
	if err != nil {
		return err
	}
	if pos != 0 {
		s.publishWake(syncWake{Receipt: pos, RoomID: a.roomID, UserID: dev.UserID.String()})
		s.federateReceipt(r.Context(), rec)
		if receiptType == "m.read" || receiptType == "m.read.private" {
			go s.pushBadge(dev.UserID.String())
		}
	}
	return nil
}

func (s *Server) setFullyRead(r *http.Request, dev *userapi.Device, roomID, eventID string) error {
	a, e, err := s.visibleEvent(r, dev, roomID, eventID)
	if err != nil {
		return err
	}
	content, _ := json.Marshal(map[string]string{"event_id": e.ID})
	// The user API announces the change on the bus.
	_, err = s.users.PutAccountData(r.Context(), dev.UserID, a.roomID, "m.fully_read", content)
	return err
}

// handleReadMarkers is POST /rooms/{roomId}/read_markers.
func (s *Server) handleReadMarkers(r *http.Request, dev *userapi.Device) (any, error) {
	var body map[string]string
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	roomID := mux.Vars(r)["roomId"]
	if id := body["m.fully_read"]; id != "" {
		if err := s.setFullyRead(r, dev, roomID, id); err != nil {
			return nil, err
		}
	}
	for _, t := range []string{"m.read", "m.read.private"} {
		if id := body[t]; id != "" {
			if err := s.putReceipt(r, dev, roomID, t, id, ""); err != nil {
				return nil, err
			}
		}
	}
	return struct{}{}, nil
}
