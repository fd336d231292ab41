package syncapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/syncapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
	"github.com/rohrpost/rohrpost/userapi/pushrules"
)

const (
	defaultTimelineLimit = 10
	maxTimelineLimit     = 1000
	maxSyncTimeout       = 5 * time.Minute
)

// syncRequest is a parsed GET /sync.
type syncRequest struct {
	device *userapi.Device
	// ignored are the senders the user ignores (m.ignored_user_list).
	ignored map[string]bool
	// invitesBlocked: the user blocks all invites (m.invite_permission_config).
	invitesBlocked bool
	// readPositions, when loaded, are the user's read markers by room
	// (a room without one is missing); nil means ask per room.
	readPositions map[string]int64
	// setPresence is the presence the client asked to be shown with.
	setPresence string
	since       *Token
	timeout     time.Duration
	fullState   bool
	// stateAfter asks for state_after (the state at the end of the
	// timeline) instead of state (at its start); spec v1.16, MSC4222.
	stateAfter bool
	filter     *Filter
	// peeks are the device's peeks (MSC2753), read for each attempt.
	peeks []storage.Peek
	// pushRules are the user's push rules when the user changed any; nil
	// means the defaults, which mute no room.
	pushRules *pushrules.Ruleset
}

func (s *Server) parseSyncRequest(r *http.Request, dev *userapi.Device) (*syncRequest, error) {
	q := r.URL.Query()
	req := &syncRequest{device: dev, filter: &Filter{}}
	if v := q.Get("since"); v != "" {
		tok, err := ParseToken(v)
		if err != nil {
			return nil, mxhttp.InvalidParam("since is not a valid sync token")
		}
		req.since = &tok
	}
	if v := q.Get("timeout"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			return nil, mxhttp.InvalidParam("timeout must be a non-negative integer")
		}
		req.timeout = min(time.Duration(ms)*time.Millisecond, maxSyncTimeout)
	}
	switch v := q.Get("full_state"); v {
	case "", "false":
	case "true":
		req.fullState = true
	default:
		return nil, mxhttp.InvalidParam("full_state must be true or false")
	}
	switch v := q.Get("use_state_after"); v {
	case "", "false":
	case "true":
		req.stateAfter = true
	default:
		return nil, mxhttp.InvalidParam("use_state_after must be true or false")
	}
	switch v := q.Get("set_presence"); v {
	case "":
		req.setPresence = "online"
	case "online", "offline", "unavailable":
		req.setPresence = v
	default:
		return nil, mxhttp.InvalidParam("set_presence must be online, offline or unavailable")
	}
	if v := q.Get("filter"); v != "" {
		f, err := s.loadFilter(r.Context(), dev, v)
		if err != nil {
			return nil, err
		}
		req.filter = f
	}
	return req, nil
}

// loadFilter reads an inline filter or a stored one by id.
func (s *Server) loadFilter(ctx context.Context, dev *userapi.Device, v string) (*Filter, error) {
	raw := []byte(v)
	key := dev.UserID.String() + " " + v
	if v[0] != '{' {
		if f, ok := s.filters.get(key); ok {
			return f, nil
		}
		stored, err := s.users.Filter(ctx, dev.UserID, v)
		if err != nil {
			return nil, mxhttp.InvalidParam("unknown filter id")
		}
		raw = stored
	}
	f, err := ParseFilter(raw)
	if err != nil {
		return nil, mxhttp.InvalidParam("filter is not a valid filter definition")
	}
	if v[0] != '{' {
		s.filters.put(key, f)
	}
	return f, nil
}

// filterCache keeps parsed stored filters. A stored filter never changes,
// so an entry never goes stale; the cache only needs a bound.
type filterCache struct {
	mu      sync.Mutex
	entries map[string]*Filter
}

const maxCachedFilters = 10000

func (c *filterCache) get(key string) (*Filter, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.entries[key]
	return f, ok
}

func (c *filterCache) put(key string, f *Filter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxCachedFilters {
		c.entries = map[string]*Filter{}
	}
	c.entries[key] = f
}

// handleSync is GET /sync: answer at once if anything is new for the user,
// otherwise wait for the notifier to say so or for the timeout.
func (s *Server) handleSync(r *http.Request, dev *userapi.Device) (any, error) {
	req, err := s.parseSyncRequest(r, dev)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	return longPoll(ctx, s, dev.UserID.String(), req.setPresence, req.timeout, func(to Token) (*syncResponse, bool, func(), error) {
		var err error
		if req.peeks, err = s.store.PeeksOfDevice(ctx, dev.UserID.String(), dev.ID); err != nil {
			return nil, false, nil, err
		}
		unwatch := s.notifier.watchPeeks(dev.UserID.String(), activePeeks(req.peeks))
		resp, err := s.buildSync(ctx, req, to)
		if err != nil {
			return nil, false, unwatch, err
		}
		resp.dropRoomIDs(req)
		return resp, req.since == nil || !resp.empty() || req.fullState, unwatch, nil
	})
}

// syncResponse is the spec's /sync response.
type syncResponse struct {
	NextBatch   string         `json:"next_batch"`
	Rooms       syncRooms      `json:"rooms"`
	AccountData eventList      `json:"account_data,omitzero"`
	Presence    eventList      `json:"presence,omitzero"`
	ToDevice    eventList      `json:"to_device,omitzero"`
	DeviceLists deviceLists    `json:"device_lists,omitzero"`
	OTKCounts   map[string]int `json:"device_one_time_keys_count"`
	// FallbackKeyTypes are the algorithms of the device's unused fallback
	// keys.
	FallbackKeyTypes []string `json:"device_unused_fallback_key_types"`
}

type syncRooms struct {
	Join   map[string]*joinedRoom  `json:"join"`
	Invite map[string]*invitedRoom `json:"invite,omitempty"`
	Leave  map[string]*leftRoom    `json:"leave,omitempty"`
	Knock  map[string]*knockedRoom `json:"knock,omitempty"`
	// Peek holds the rooms the device peeks into (MSC2753).
	Peek map[string]*joinedRoom `json:"peek,omitempty"`
}

type eventList struct {
	Events []json.RawMessage `json:"events"`
}

// deviceLists is the sync's device_lists; an empty list is left out like
// the other optional parts (sync_trim.go).
type deviceLists struct {
	Changed []string `json:"changed,omitempty"`
	Left    []string `json:"left,omitempty"`
}

type timeline struct {
	Events    []json.RawMessage `json:"events"`
	Limited   bool              `json:"limited"`
	PrevBatch string            `json:"prev_batch,omitempty"`
}

type roomSummary struct {
	Heroes  []string `json:"m.heroes,omitempty"`
	Joined  *int     `json:"m.joined_member_count,omitempty"`
	Invited *int     `json:"m.invited_member_count,omitempty"`
}

type unreadCounts struct {
	Notifications int `json:"notification_count"`
	Highlights    int `json:"highlight_count"`
}

type joinedRoom struct {
	Summary *roomSummary `json:"summary,omitempty"`
	// Exactly one of State and StateAfter is set, as the client asked.
	State      *eventList `json:"state,omitempty"`
	StateAfter *eventList `json:"state_after,omitempty"`
	Timeline   timeline   `json:"timeline"`
	// Ephemeral is always there, even empty: clients and SyTest look for
	// it (the spec marks it optional).
	Ephemeral   eventList     `json:"ephemeral"`
	AccountData eventList     `json:"account_data,omitzero"`
	Unread      *unreadCounts `json:"unread_notifications,omitempty"`

	// joiners are users who joined in this timeline; the client gets their
	// presence.
	joiners []string
}

type invitedRoom struct {
	InviteState eventList `json:"invite_state"`
}

type knockedRoom struct {
	KnockState eventList `json:"knock_state"`
}

type leftRoom struct {
	State       *eventList `json:"state,omitempty"`
	StateAfter  *eventList `json:"state_after,omitempty"`
	Timeline    timeline   `json:"timeline"`
	AccountData eventList  `json:"account_data,omitzero"`
}

// stateSection is the state or state_after section, as req asks, with
// the given events; the other one stays nil.
func stateSection(req *syncRequest, events []json.RawMessage) (state, stateAfter *eventList) {
	l := &eventList{Events: events}
	if req.stateAfter {
		return nil, l
	}
	return l, nil
}

func (r *syncResponse) empty() bool {
	return len(r.Rooms.Join)+len(r.Rooms.Invite)+len(r.Rooms.Knock)+len(r.Rooms.Leave)+len(r.Rooms.Peek)+len(r.AccountData.Events)+
		len(r.ToDevice.Events)+len(r.Presence.Events)+len(r.DeviceLists.Changed)+len(r.DeviceLists.Left) == 0
}

func newSyncResponse(next Token) *syncResponse {
	return &syncResponse{
		NextBatch: next.String(),
		Rooms: syncRooms{Join: map[string]*joinedRoom{}, Invite: map[string]*invitedRoom{},
			Leave: map[string]*leftRoom{}, Knock: map[string]*knockedRoom{}, Peek: map[string]*joinedRoom{}},
		AccountData:      eventList{Events: []json.RawMessage{}},
		Presence:         eventList{Events: []json.RawMessage{}},
		ToDevice:         eventList{Events: []json.RawMessage{}},
		DeviceLists:      deviceLists{Changed: []string{}, Left: []string{}},
		OTKCounts:        map[string]int{},
		FallbackKeyTypes: []string{},
	}
}
