package syncapi

import (
	"encoding/json"

	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"slices"
	"strings"
)

// Filter is the part of the spec's Filter that the server applies.
type Filter struct {
	EventFields []string `json:"event_fields,omitempty"`
	// EventFormat "federation" asks for events as servers exchange them.
	EventFormat string      `json:"event_format,omitempty"`
	AccountData EventFilter `json:"account_data"`
	Presence    EventFilter `json:"presence"`
	Room        RoomFilter  `json:"room"`
}

type RoomFilter struct {
	Rooms        *[]string       `json:"rooms,omitempty"`
	NotRooms     []string        `json:"not_rooms,omitempty"`
	IncludeLeave bool            `json:"include_leave"`
	Timeline     RoomEventFilter `json:"timeline"`
	State        RoomEventFilter `json:"state"`
	Ephemeral    RoomEventFilter `json:"ephemeral"`
	AccountData  RoomEventFilter `json:"account_data"`
}

type EventFilter struct {
	Limit      *int      `json:"limit,omitempty"`
	Types      *[]string `json:"types,omitempty"`
	NotTypes   []string  `json:"not_types,omitempty"`
	Senders    *[]string `json:"senders,omitempty"`
	NotSenders []string  `json:"not_senders,omitempty"`
}

type RoomEventFilter struct {
	EventFilter
	Rooms                   *[]string `json:"rooms,omitempty"`
	NotRooms                []string  `json:"not_rooms,omitempty"`
	LazyLoadMembers         bool      `json:"lazy_load_members"`
	IncludeRedundantMembers bool      `json:"include_redundant_members"`
	ContainsURL             *bool     `json:"contains_url,omitempty"`
}

// ParseFilter reads a filter definition.
func ParseFilter(raw []byte) (*Filter, error) {
	var f Filter
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// allowsRoom applies rooms/not_rooms.
func allowsRoom(rooms *[]string, notRooms []string, roomID string) bool {
	if slices.Contains(notRooms, roomID) {
		return false
	}
	return rooms == nil || slices.Contains(*rooms, roomID)
}

// AllowsRoom tells whether the room filter lets a room through.
func (f *RoomFilter) AllowsRoom(roomID string) bool {
	return allowsRoom(f.Rooms, f.NotRooms, roomID)
}

// Allows applies types/senders with the spec's '*' wildcards.
func (f *EventFilter) Allows(evType, sender string) bool {
	if f.Types != nil && !matchAny(*f.Types, evType) {
		return false
	}
	if matchAny(f.NotTypes, evType) {
		return false
	}
	if f.Senders != nil && !slices.Contains(*f.Senders, sender) {
		return false
	}
	return !slices.Contains(f.NotSenders, sender)
}

// Allows applies the room event filter to one event of a room.
func (f *RoomEventFilter) Allows(roomID, evType, sender string, hasURL bool) bool {
	if !allowsRoom(f.Rooms, f.NotRooms, roomID) || !f.EventFilter.Allows(evType, sender) {
		return false
	}
	return f.ContainsURL == nil || *f.ContainsURL == hasURL
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if p == s {
			return true
		}
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// limit returns the filter's limit bounded to [0, max], or def when unset
// or negative. An explicit 0 asks for no events.
func (f *EventFilter) limit(def, maxLimit int) int {
	if f.Limit == nil || *f.Limit < 0 {
		return def
	}
	return min(*f.Limit, maxLimit)
}

// storageFilter is the part of the filter the database applies.
func (f *RoomEventFilter) storageFilter() *rsstorage.EventFilter {
	if f == nil {
		return nil
	}
	return &rsstorage.EventFilter{Types: f.Types, NotTypes: f.NotTypes, Senders: f.Senders, NotSenders: f.NotSenders, ContainsURL: f.ContainsURL}
}
