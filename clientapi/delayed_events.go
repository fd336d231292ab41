package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/clientapi/delayedevents"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
)

// Delayed events (MSC4140) as clients use them today: Element Call and
// matrix-js-sdk schedule with ?org.matrix.msc4140.delay on /send and
// /state and manage under /unstable/org.matrix.msc4140/delayed_events;
// the MSC's newest draft adds PUT .../delayed_event/{type}/{txnId}.
// docs/decisions/0022-delayed-events.md.

// delayParam is the org.matrix.msc4140.delay query parameter: a delay in
// milliseconds; ok is false when the request has none.
func delayParam(r *http.Request) (d time.Duration, ok bool, err error) {
	q := r.URL.Query()
	if !q.Has("org.matrix.msc4140.delay") {
		return 0, false, nil
	}
	ms, err := strconv.ParseInt(q.Get("org.matrix.msc4140.delay"), 10, 64)
	if err != nil || ms < 0 || ms > int64(time.Duration(1<<62)/time.Millisecond) {
		return 0, false, mxhttp.InvalidParam("org.matrix.msc4140.delay must be a non-negative number of milliseconds")
	}
	return time.Duration(ms) * time.Millisecond, true, nil
}

// scheduleDelayed stores a checked event to be sent after delay and
// answers with its delay_id instead of an event_id.
func (s *Server) scheduleDelayed(ctx context.Context, dev *userapi.Device, req delayedevents.ScheduleRequest) (any, error) {
	if s.delayed == nil {
		return nil, delayedError(delayedevents.ErrDisabled)
	}
	req.UserID, req.DeviceID = dev.UserID.String(), dev.ID
	id, err := s.delayed.Schedule(ctx, req)
	if err != nil {
		return nil, delayedError(err)
	}
	return map[string]string{"delay_id": id}, nil
}

// delayedError turns the service's errors into Matrix errors.
func delayedError(err error) error {
	var tooMany *delayedevents.TooManyError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, delayedevents.ErrNotFound):
		return mxhttp.NotFound("No such delayed event")
	case errors.Is(err, delayedevents.ErrDisabled):
		return mxhttp.Forbidden("Sending delayed events has been disallowed")
	case errors.Is(err, delayedevents.ErrDelayTooLong):
		// 403 M_FORBIDDEN as the MSC's newest draft and Synapse have it.
		return mxhttp.Forbidden("The requested delay exceeds the allowed maximum: " + err.Error())
	case errors.Is(err, delayedevents.ErrConflict):
		return &mxhttp.Error{Status: http.StatusConflict, Code: "M_UNKNOWN", Msg: err.Error()}
	case errors.As(err, &tooMany):
		e := mxhttp.LimitExceeded(max(tooMany.RetryAfter.Milliseconds(), 1))
		e.Msg = "The maximum number of delayed events has been reached."
		return e
	}
	return err
}

// putDelayedEvent is PUT /rooms/{roomId}/delayed_event/{eventType}/{txnId}
// of the MSC's newest draft: the delay and state key in the body.
func (s *Server) putDelayedEvent(r *http.Request, dev *userapi.Device) (any, error) {
	v := mux.Vars(r)
	if err := validRoomID(v["roomId"]); err != nil {
		return nil, err
	}
	body, err := mxhttp.ReadBody(r, 2*maxEventBody)
	if err != nil {
		return nil, err
	}
	var req struct {
		DelayMS  *int64          `json:"delay_ms"`
		StateKey *string         `json:"state_key"`
		Content  json.RawMessage `json:"content"`
	}
	if err := mxhttp.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if req.DelayMS == nil || *req.DelayMS <= 0 {
		return nil, mxhttp.BadJSON("delay_ms must be a positive number of milliseconds")
	}
	if !gjson.ParseBytes(req.Content).IsObject() {
		return nil, mxhttp.BadJSON("content must be a JSON object")
	}
	if len(req.Content) > maxEventBody {
		return nil, mxhttp.TooLarge("content is too large")
	}
	if dev.Suspended {
		return nil, errSuspended()
	}
	if req.StateKey != nil {
		if err := s.checkStateContent(r, v["roomId"], v["eventType"], req.Content); err != nil {
			return nil, err
		}
	}
	return s.scheduleDelayed(r.Context(), dev, delayedevents.ScheduleRequest{
		Txn: txnEndpoint("delayed_event", v["roomId"], v["eventType"], v["txnId"]), RoomID: v["roomId"], Type: v["eventType"],
		StateKey: req.StateKey, Content: req.Content, Delay: time.Duration(*req.DelayMS) * time.Millisecond,
	})
}

// delayedEventAction is POST /delayed_events/{delayId}/{action}, and the
// older POST /delayed_events/{delayId} with the action in the body,
// which matrix-js-sdk falls back to. Both need the owner's access token:
// another user's delay_id is not found.
func (s *Server) delayedEventAction(r *http.Request, dev *userapi.Device) (any, error) {
	v := mux.Vars(r)
	action := v["action"]
	if action == "" {
		body, err := mxhttp.ReadBody(r, 1024)
		if err != nil {
			return nil, err
		}
		var req struct {
			Action *string `json:"action"`
		}
		if err := mxhttp.Unmarshal(body, &req); err != nil {
			return nil, err
		}
		if req.Action == nil {
			return nil, mxhttp.MissingParam("'action' is missing")
		}
		action = *req.Action
	}
	if s.delayed == nil {
		return nil, mxhttp.NotFound("No such delayed event")
	}
	if err := s.limitUser(r.Context(), "rc_delayed_event_mgmt", dev); err != nil {
		return nil, err
	}
	user, id := dev.UserID.String(), v["delayId"]
	var err error
	switch action {
	case "cancel":
		err = s.delayed.Cancel(r.Context(), user, id)
	case "restart":
		err = s.delayed.Restart(r.Context(), user, id)
	case "send":
		// The event goes out now: it counts as one the user sends.
		if err := s.limitUser(r.Context(), "rc_message", dev); err != nil {
			return nil, err
		}
		err = s.delayed.SendNow(r.Context(), user, id)
	default:
		return nil, mxhttp.InvalidParam("'action' is not one of 'cancel', 'restart', 'send'")
	}
	if err != nil {
		return nil, delayedError(err)
	}
	return struct{}{}, nil
}

// delayedEventJSON is one delayed event as clients read it. Both names
// of the delay and its start go out: delay and running_since are what
// Synapse, matrix-js-sdk and mautrix read, delay_ms and scheduled_at
// what the MSC's newest draft calls them.
type delayedEventJSON struct {
	DelayID      string          `json:"delay_id"`
	RoomID       string          `json:"room_id"`
	Type         string          `json:"type"`
	StateKey     *string         `json:"state_key,omitempty"`
	Content      json.RawMessage `json:"content"`
	Delay        int64           `json:"delay"`
	RunningSince int64           `json:"running_since"`
	DelayMS      int64           `json:"delay_ms"`
	ScheduledAt  int64           `json:"scheduled_at"`
	// Only for finalised events.
	EventID     string          `json:"event_id,omitempty"`
	Error       json.RawMessage `json:"error,omitempty"`
	FinalisedTS int64           `json:"finalised_ts,omitempty"`
}

func toDelayedJSON(e *delayedevents.Event) delayedEventJSON {
	out := delayedEventJSON{DelayID: e.DelayID, RoomID: e.RoomID, Type: e.Type, StateKey: e.StateKey, Content: e.Content,
		Delay: e.DelayMS, RunningSince: e.Scheduled, DelayMS: e.DelayMS, ScheduledAt: e.Scheduled}
	if e.Status != delayedevents.StatusScheduled {
		out.EventID, out.Error, out.FinalisedTS = e.EventID, e.Error, e.FinalisedTS
	}
	return out
}

// finalisedJSON is a finalised event in the shape of the MSC's earlier
// draft, which matrix-js-sdk asks for with status=finalised.
type finalisedJSON struct {
	DelayedEvent delayedEventJSON `json:"delayed_event"`
	Outcome      string           `json:"outcome"`
	Reason       string           `json:"reason"`
	Error        json.RawMessage  `json:"error,omitempty"`
	EventID      string           `json:"event_id,omitempty"`
	Timestamp    int64            `json:"origin_server_ts"`
}

func toFinalisedJSON(e *delayedevents.Event) finalisedJSON {
	f := finalisedJSON{DelayedEvent: toDelayedJSON(e), Outcome: "cancel", Reason: "action", Error: e.Error, EventID: e.EventID, Timestamp: e.FinalisedTS}
	switch {
	case e.Status == delayedevents.StatusFailed:
		f.Reason = "error"
	case e.Status == delayedevents.StatusSent && e.FinalisedTS < e.Scheduled+e.DelayMS:
		f.Outcome = "send"
	case e.Status == delayedevents.StatusSent:
		f.Outcome, f.Reason = "send", "delay"
	}
	return f
}

// listDelayedEvents is GET /delayed_events: the user's scheduled events
// in the order they are due. status=finalised (matrix-js-sdk, mautrix)
// lists the finalised ones instead, in that draft's shape; status=sent,
// cancelled or failed (MSC4486) lists those in the list's own shape.
// delay_id, repeatable, picks events.
func (s *Server) listDelayedEvents(r *http.Request, dev *userapi.Device) (any, error) {
	q := r.URL.Query()
	if s.delayed == nil {
		return map[string]any{"delayed_events": []delayedEventJSON{}}, nil
	}
	if err := s.limitUser(r.Context(), "rc_delayed_event_mgmt", dev); err != nil {
		return nil, err
	}
	status := q.Get("status")
	var statuses []string
	switch status {
	case "", "scheduled":
		statuses = []string{delayedevents.StatusScheduled}
	case "finalised":
		statuses = []string{delayedevents.StatusSent, delayedevents.StatusCancelled, delayedevents.StatusFailed}
	case "sent", "cancelled", "failed":
		statuses = []string{status}
	default:
		return nil, mxhttp.InvalidParam("status must be scheduled, finalised, sent, cancelled or failed")
	}
	events, err := s.delayed.List(r.Context(), dev.UserID.String(), statuses, q["delay_id"])
	if err != nil {
		return nil, err
	}
	if status == "finalised" {
		out := make([]finalisedJSON, 0, len(events))
		for _, e := range events {
			out = append(out, toFinalisedJSON(e))
		}
		return map[string]any{"finalised": out}, nil
	}
	out := make([]delayedEventJSON, 0, len(events))
	for _, e := range events {
		out = append(out, toDelayedJSON(e))
	}
	return map[string]any{"delayed_events": out}, nil
}

// getDelayedEvent is GET /delayed_events/{delayId} of the MSC's newest
// draft: one of the user's events, scheduled or finalised.
func (s *Server) getDelayedEvent(r *http.Request, dev *userapi.Device) (any, error) {
	if s.delayed == nil {
		return nil, mxhttp.NotFound("No such delayed event")
	}
	if err := s.limitUser(r.Context(), "rc_delayed_event_mgmt", dev); err != nil {
		return nil, err
	}
	e, err := s.delayed.Get(r.Context(), dev.UserID.String(), mux.Vars(r)["delayId"])
	if err != nil {
		return nil, delayedError(err)
	}
	return toDelayedJSON(e), nil
}

// sendDelayed is the delayed events' send path: the event goes in as
// its user's, checked against the room as it is now. An account that
// is gone, locked or suspended sends nothing (a suspended user may
// still leave, as through /state).
func (s *Server) sendDelayed(ctx context.Context, e *delayedevents.Event) (string, error) {
	user, err := spec.NewUserID(e.UserID, true)
	if err != nil {
		return "", mxhttp.Forbidden("invalid user id")
	}
	mod, err := s.users.AccountModeration(ctx, *user)
	switch {
	case errors.Is(err, userapi.ErrNotFound):
		return "", mxhttp.UserDeactivated("The account was deactivated")
	case err != nil:
		return "", err
	case mod.Locked:
		return "", mxhttp.Forbidden("The account is locked")
	case mod.Suspended:
		leaving := e.Type == spec.MRoomMember && e.StateKey != nil && *e.StateKey == e.UserID &&
			gjson.GetBytes(e.Content, "membership").String() == spec.Leave
		if !leaving {
			return "", errSuspended()
		}
	}
	var redacts string
	if e.Type == spec.MRoomRedaction && e.StateKey == nil {
		redacts = gjson.GetBytes(e.Content, "redacts").String()
	}
	res, err := s.rooms.SendEvent(ctx, roomserver.SendEventRequest{
		RoomID: e.RoomID, Sender: *user, Type: e.Type, StateKey: e.StateKey, Content: e.Content, Redacts: redacts,
		// The delay id as transaction id: sending again after a crash
		// between the event's commit and its record as sent gives back
		// the same event, not a second one.
		TxnDevice: e.DeviceID, TxnEndpoint: "delayed", TxnID: e.DelayID,
	})
	if err != nil {
		return "", roomError(err)
	}
	return res.EventID, nil
}
