package clientapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/clientapi/delayedevents"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
	"github.com/tidwall/gjson"
)

// maxEventBody is the spec's event size limit; the content alone cannot
// be larger than the whole event.
const maxEventBody = 65536

func validRoomID(id string) error {
	if _, err := spec.NewRoomID(id); err != nil {
		return mxhttp.InvalidParam("invalid room id")
	}
	return nil
}

// readContent reads an event content body: a JSON object of bounded size.
func readContent(r *http.Request) (json.RawMessage, error) {
	var content map[string]json.RawMessage
	body, err := mxhttp.ReadBody(r, maxEventBody)
	if err != nil {
		return nil, err
	}
	if err := mxhttp.Unmarshal(body, &content); err != nil {
		return nil, err
	}
	return json.RawMessage(body), nil
}

// sendEvent is PUT /rooms/{roomId}/send/{eventType}/{txnId}, and the
// older POST /rooms/{roomId}/send/{eventType} that predates transaction ids
// (still called by some clients and SyTest): without a txnId the send is
// not idempotent, every call makes a new event.
func (s *Server) sendEvent(r *http.Request, dev *userapi.Device) (any, error) {
	v := mux.Vars(r)
	if err := validRoomID(v["roomId"]); err != nil {
		return nil, err
	}
	content, err := readContent(r)
	if err != nil {
		return nil, err
	}
	// A redaction may be sent like any event (spec v1.18, MSC4169), with
	// the redacted event's id in the content; the roomserver puts it where
	// the room version wants it.
	var redacts string
	if v["eventType"] == spec.MRoomRedaction {
		var c struct {
			Redacts string `json:"redacts"`
		}
		if err := validateRedaction(content); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(content, &c); err != nil || c.Redacts == "" {
			return nil, mxhttp.BadJSON("A redaction needs the id of the event it redacts in redacts")
		}
		if err := s.checkRedactionTarget(r, dev, v["roomId"], c.Redacts); err != nil {
			return nil, err
		}
		redacts = c.Redacts
	} else if dev.Suspended {
		return nil, errSuspended()
	}
	if dev.ShadowBanned {
		return s.shadowSend(r)
	}
	if delay, ok, err := delayParam(r); err != nil || ok {
		if err != nil {
			return nil, err
		}
		txn := ""
		if v["txnId"] != "" {
			txn = txnEndpoint("send", v["roomId"], v["eventType"], v["txnId"])
		}
		return s.scheduleDelayed(r.Context(), dev, delayedevents.ScheduleRequest{Txn: txn, RoomID: v["roomId"], Type: v["eventType"],
			Content: content, Delay: delay})
	}
	res, err := s.rooms.SendEvent(r.Context(), roomserver.SendEventRequest{
		RoomID: v["roomId"], Sender: dev.UserID, Type: v["eventType"], Content: content, Redacts: redacts,
		TxnSession: dev.SessionID, TxnDevice: dev.ID, TxnEndpoint: txnEndpoint("send", v["roomId"], v["eventType"]), TxnID: v["txnId"],
	})
	if err != nil {
		return nil, roomError(err)
	}
	return map[string]string{"event_id": res.EventID}, nil
}

// redactEvent is PUT /rooms/{roomId}/redact/{eventId}/{txnId}.
func (s *Server) redactEvent(r *http.Request, dev *userapi.Device) (any, error) {
	v := mux.Vars(r)
	if err := validRoomID(v["roomId"]); err != nil {
		return nil, err
	}
	content, err := readContent(r)
	if err != nil {
		return nil, err
	}
	if err := validateRedaction(content); err != nil {
		return nil, err
	}
	if err := s.checkRedactionTarget(r, dev, v["roomId"], v["eventId"]); err != nil {
		return nil, err
	}
	if dev.ShadowBanned {
		return s.shadowSend(r)
	}
	res, err := s.rooms.SendEvent(r.Context(), roomserver.SendEventRequest{
		RoomID: v["roomId"], Sender: dev.UserID, Type: spec.MRoomRedaction, Content: content, Redacts: v["eventId"],
		TxnSession: dev.SessionID, TxnDevice: dev.ID, TxnEndpoint: txnEndpoint("redact", v["roomId"], v["eventId"]), TxnID: v["txnId"],
	})
	if err != nil {
		return nil, roomError(err)
	}
	return map[string]string{"event_id": res.EventID}, nil
}

// txnEndpoint names the endpoint a transaction id is scoped to (with the
// device): the request path without the id, each part escaped so that no
// two paths give one name. The legacy POST forms have no transaction id,
// and each of their requests is a new event.
func txnEndpoint(kind string, parts ...string) string {
	out := kind
	for _, p := range parts {
		out += "/" + url.PathEscape(p)
	}
	return out
}

// checkRedactionTarget makes sure the event to redact is one of the
// room's: a redaction can only ever apply to an event of its own room.
// A suspended user redacts only their own events.
func (s *Server) checkRedactionTarget(r *http.Request, dev *userapi.Device, roomID, eventID string) error {
	if !strings.HasPrefix(eventID, "$") {
		return mxhttp.InvalidParam("invalid event id")
	}
	target, err := s.rooms.Event(r.Context(), eventID)
	if err != nil {
		return roomError(err)
	}
	if target.RoomID != roomID {
		return mxhttp.InvalidParam("The event is not in this room")
	}
	if dev.Suspended && target.Sender != dev.UserID.String() {
		return errSuspended()
	}
	return nil
}

// putState is PUT /rooms/{roomId}/state/{eventType}[/{stateKey}].
func (s *Server) putState(r *http.Request, dev *userapi.Device) (any, error) {
	v := mux.Vars(r)
	if err := validRoomID(v["roomId"]); err != nil {
		return nil, err
	}
	content, err := readContent(r)
	if err != nil {
		return nil, err
	}
	stateKey := v["stateKey"]
	if v["eventType"] == spec.MRoomCreate {
		// A room has one create event, made with it (decision 0017).
		return nil, mxhttp.InvalidParam("a room's create event cannot be sent after the room exists")
	}
	if v["eventType"] == spec.MRoomMember {
		target, err := spec.NewUserID(stateKey, true)
		if err != nil {
			return nil, mxhttp.InvalidParam("the state key of a member event must be a user id")
		}
		membership := gjson.GetBytes(content, "membership").String()
		if membership == spec.Invite {
			if err := s.checkInvitable(r.Context(), *target); err != nil {
				return nil, err
			}
		}
		// Leaving is what a suspended user may still do with state.
		if dev.Suspended && (membership != spec.Leave || *target != dev.UserID) {
			return nil, errSuspended()
		}
	} else if dev.Suspended {
		return nil, errSuspended()
	}
	if err := s.checkStateContent(r, v["roomId"], v["eventType"], content); err != nil {
		return nil, err
	}
	if dev.ShadowBanned && v["eventType"] != spec.MRoomMember {
		return s.shadowSend(r)
	}
	if delay, ok, err := delayParam(r); err != nil || ok {
		if err != nil {
			return nil, err
		}
		return s.scheduleDelayed(r.Context(), dev, delayedevents.ScheduleRequest{RoomID: v["roomId"], Type: v["eventType"],
			StateKey: &stateKey, Content: content, Delay: delay})
	}
	res, err := s.rooms.SendEvent(r.Context(), roomserver.SendEventRequest{
		RoomID: v["roomId"], Sender: dev.UserID, Type: v["eventType"], StateKey: &stateKey, Content: content,
	})
	if err != nil {
		return nil, roomError(err)
	}
	if v["eventType"] == spec.MRoomGuestAccess && stateKey == "" && !s.guestsCanJoin(r.Context(), v["roomId"]) {
		s.removeGuests(r.Context(), v["roomId"])
	}
	return map[string]string{"event_id": res.EventID}, nil
}

// checkStateContent validates the state events whose content the server
// must understand.
func (s *Server) checkStateContent(r *http.Request, roomID, evType string, content json.RawMessage) error {
	if err := validateStateContent(evType, content); err != nil {
		return err
	}
	switch evType {
	case spec.MRoomCanonicalAlias:
		var c struct {
			Alias      *string  `json:"alias"`
			AltAliases []string `json:"alt_aliases"`
		}
		if err := json.Unmarshal(content, &c); err != nil {
			return mxhttp.BadJSON("invalid m.room.canonical_alias content")
		}
		aliases := c.AltAliases
		if c.Alias != nil && *c.Alias != "" {
			aliases = append(aliases, *c.Alias)
		}
		for _, a := range aliases {
			if !validAlias(a) {
				return mxhttp.InvalidParam("invalid alias " + a)
			}
			id, err := s.rooms.ResolveAlias(r.Context(), a)
			if err != nil || id != roomID {
				return mxhttp.BadAlias("alias " + a + " does not point to this room")
			}
		}
	case spec.MRoomPowerLevels:
		var c map[string]any
		if err := json.Unmarshal(content, &c); err != nil {
			return mxhttp.BadJSON("invalid m.room.power_levels content")
		}
		return s.checkCreatorsNotListed(r.Context(), roomID, content)
	}
	return nil
}
