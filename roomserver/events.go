package roomserver

import "encoding/json"

// OutputEvent is what the roomserver publishes on bus.RoomEventsSubject for
// every event it accepted into a room's timeline, in stream order.
type OutputEvent struct {
	RoomID    string  `json:"room_id"`
	RoomNID   int64   `json:"room_nid"`
	EventID   string  `json:"event_id"`
	StreamPos int64   `json:"stream_pos"`
	Type      string  `json:"type"`
	StateKey  *string `json:"state_key,omitempty"`
	Sender    string  `json:"sender"`
	// Membership is set for m.room.member events.
	Membership string `json:"membership,omitempty"`
	// PDU is the federation form of the event.
	PDU json.RawMessage `json:"pdu"`
	// PushClass and Mentions are what the default push rules make of the
	// event (pushclass.go) when Classified; events republished from the
	// database after a crash leave them out.
	PushClass  int    `json:"push_class,omitempty"`
	Mentions   string `json:"mentions,omitempty"`
	Classified bool   `json:"classified,omitempty"`
	// Servers are the servers with joined members after the event (the
	// ones it goes to); Known is false for events republished from the
	// database after a crash, which leave them out.
	Servers []string `json:"servers,omitempty"`
	Known   bool     `json:"known,omitempty"`
	// Queued: the federation send queue holds the event already, written
	// in the roomserver's commit (outbox.go).
	Queued bool `json:"queued,omitempty"`
}
