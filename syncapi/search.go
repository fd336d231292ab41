package syncapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// Server-side search (POST /search) over the rooms the user is joined to:
// messages by body, room names and topics. An event matches when its text
// contains every word of the search term, case-insensitively (the
// roomserver keeps a lower-cased copy of the searched key per event).
// Results come newest first for both orders; rank is the number of the
// term's words in the text. What the user may not see of a room's
// history is left out of the results.

const (
	defaultSearchLimit = 10
	maxSearchLimit     = 100
	maxSearchWords     = 10
	defaultContext     = 5
	maxContext         = 20
)

// searchKeyTypes maps the spec's keys to the event types they search.
var searchKeyTypes = map[string]string{
	"content.body":  "m.room.message",
	"content.name":  "m.room.name",
	"content.topic": "m.room.topic",
}

type searchRequest struct {
	SearchCategories struct {
		RoomEvents *struct {
			SearchTerm   *string         `json:"search_term"`
			Keys         []string        `json:"keys"`
			Filter       RoomEventFilter `json:"filter"`
			OrderBy      string          `json:"order_by"`
			EventContext *struct {
				BeforeLimit    *int `json:"before_limit"`
				AfterLimit     *int `json:"after_limit"`
				IncludeProfile bool `json:"include_profile"`
			} `json:"event_context"`
			IncludeState bool `json:"include_state"`
			Groupings    struct {
				GroupBy []struct {
					Key string `json:"key"`
				} `json:"group_by"`
			} `json:"groupings"`
		} `json:"room_events"`
	} `json:"search_categories"`
}

type searchResult struct {
	Rank    float64         `json:"rank"`
	Result  json.RawMessage `json:"result"`
	Context *searchContext  `json:"context,omitempty"`
}

type searchContext struct {
	Start        string                       `json:"start"`
	End          string                       `json:"end"`
	EventsBefore []json.RawMessage            `json:"events_before"`
	EventsAfter  []json.RawMessage            `json:"events_after"`
	ProfileInfo  map[string]map[string]string `json:"profile_info,omitempty"`
}

// handleSearch is POST /search.
func (s *Server) handleSearch(r *http.Request, dev *userapi.Device) (any, error) {
	var req searchRequest
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	re := req.SearchCategories.RoomEvents
	if re == nil {
		return map[string]any{"search_categories": map[string]any{}}, nil
	}
	if re.SearchTerm == nil {
		return nil, mxhttp.MissingParam("room_events.search_term is required")
	}
	words := strings.Fields(strings.ToLower(*re.SearchTerm))
	if len(words) > maxSearchWords {
		words = words[:maxSearchWords]
	}
	var types []string
	keys := re.Keys
	if len(keys) == 0 {
		keys = []string{"content.body", "content.name", "content.topic"}
	}
	for _, k := range keys {
		t, ok := searchKeyTypes[k]
		if !ok {
			return nil, mxhttp.InvalidParam("unknown search key " + k)
		}
		types = append(types, t)
	}
	switch re.OrderBy {
	case "", "rank", "recent":
	default:
		return nil, mxhttp.InvalidParam("order_by must be rank or recent")
	}
	var before int64
	if v := r.URL.Query().Get("next_batch"); v != "" {
		var err error
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before <= 0 {
			return nil, mxhttp.InvalidParam("next_batch is not a token of /search")
		}
	}
	ctx := r.Context()
	user := dev.UserID.String()
	ms, err := s.events.MembershipsOfUser(ctx, user)
	if err != nil {
		return nil, err
	}
	q := rsstorage.SearchQuery{Words: words, Types: types, Before: before, Limit: re.Filter.limit(defaultSearchLimit, maxSearchLimit)}
	joined := map[int64]rsstorage.UserMembership{}
	for _, m := range ms {
		if m.Membership == spec.Join && allowsRoom(re.Filter.Rooms, re.Filter.NotRooms, m.RoomID) {
			q.RoomNIDs = append(q.RoomNIDs, m.RoomNID)
			joined[m.RoomNID] = m
		}
	}
	if re.Filter.Senders != nil {
		q.Senders = *re.Filter.Senders
		if len(q.Senders) == 0 {
			q.RoomNIDs = nil
		}
	}
	q.NotSenders = re.Filter.NotSenders
	q.ContainsURL = re.Filter.ContainsURL
	// The filter's types narrow the searched ones; none left, nothing to
	// find.
	q.Types = slices.DeleteFunc(q.Types, func(t string) bool {
		return (re.Filter.Types != nil && !matchAny(*re.Filter.Types, t)) || matchAny(re.Filter.NotTypes, t)
	})
	if len(q.Types) == 0 {
		q.RoomNIDs = nil
	}
	// What the user may not see of a room's history is neither found nor
	// counted: in the rooms with matches, the search keeps to the stream
	// positions the history visibility rules let the user see.
	views := map[int64]*historyView{}
	if q.RoomNIDs, err = s.events.SearchRooms(ctx, q); err != nil {
		return nil, err
	}
	q.Visible = map[int64][]rsstorage.PosRange{}
	for _, nid := range q.RoomNIDs {
		v, err := s.historyViewOf(ctx, nid, user, true)
		if err != nil {
			return nil, err
		}
		views[nid] = v
		if ranges, all := v.visibleRanges(); !all {
			q.Visible[nid] = ranges
		}
	}
	found, err := s.events.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	count, err := s.events.SearchCount(ctx, q)
	if err != nil {
		return nil, err
	}
	results := make([]searchResult, 0, len(found))
	var kept []*rsstorage.Event
	for _, e := range found {
		v, ok := views[e.RoomNID]
		if !ok {
			if v, err = s.historyViewOf(ctx, e.RoomNID, user, true); err != nil {
				return nil, err
			}
			views[e.RoomNID] = v
		}
		if len(v.filter([]*rsstorage.Event{e}, user)) == 0 || !re.Filter.Allows(joined[e.RoomNID].RoomID, e.Type, e.Sender, hasURL(e)) {
			continue
		}
		res := searchResult{Rank: rank(e, words), Result: s.render(ctx, dev, e)}
		if re.EventContext != nil {
			c := re.EventContext
			if res.Context, err = s.searchContext(ctx, dev, e, v, limitOr(c.BeforeLimit), limitOr(c.AfterLimit), c.IncludeProfile); err != nil {
				return nil, err
			}
		}
		results = append(results, res)
		kept = append(kept, e)
	}
	out := map[string]any{"count": count, "highlights": words, "results": results}
	if len(found) == q.Limit && len(found) > 0 {
		out["next_batch"] = strconv.FormatInt(found[len(found)-1].StreamPos, 10)
	}
	if re.IncludeState {
		state := map[string][]json.RawMessage{}
		for _, e := range kept {
			roomID := joined[e.RoomNID].RoomID
			if _, done := state[roomID]; done {
				continue
			}
			evs, err := s.events.CurrentState(ctx, e.RoomNID)
			if err != nil {
				return nil, err
			}
			list := make([]json.RawMessage, 0, len(evs))
			for _, ev := range evs {
				list = append(list, ev.Client)
			}
			state[roomID] = list
		}
		out["state"] = state
	}
	if groups := searchGroups(re.Groupings.GroupBy, kept, joined); groups != nil {
		out["groups"] = groups
	}
	return map[string]any{"search_categories": map[string]any{"room_events": out}}, nil
}

// visibleRanges are the stream positions at which the rules let the user
// see events other than their own membership, or all when they see every
// one. The rules change only at the positions of history visibility and
// membership changes, so between two such positions every event gets the
// same answer.
func (v *historyView) visibleRanges() (ranges []rsstorage.PosRange, all bool) {
	if v.open {
		return nil, true
	}
	var points []int64
	for _, c := range v.visibility {
		points = append(points, c.pos)
	}
	for _, c := range v.membership {
		points = append(points, c.pos)
	}
	slices.Sort(points)
	points = slices.Compact(points)
	visibleAt := func(pos int64) bool {
		return v.visible(&rsstorage.Event{StreamPos: pos, Type: "m.room.message"}, "")
	}
	add := func(after, upto int64) {
		if n := len(ranges); n > 0 && ranges[n-1].Upto == after {
			ranges[n-1].Upto = upto
			return
		}
		ranges = append(ranges, rsstorage.PosRange{After: after, Upto: upto})
	}
	after := int64(minPosition) - 1
	for _, p := range points {
		// (after, p]: the changes before p hold, those at p not yet.
		if visibleAt(p) {
			add(after, p)
		}
		after = p
	}
	if visibleAt(after + 1) {
		add(after, 0)
	}
	if ranges == nil {
		ranges = []rsstorage.PosRange{}
	}
	return ranges, false
}

func limitOr(v *int) int {
	if v == nil || *v < 0 {
		return defaultContext
	}
	return min(*v, maxContext)
}

// rank counts the occurrences of the term's words in the event's text.
func rank(e *rsstorage.Event, words []string) float64 {
	text := strings.ToLower(gjson.GetBytes(e.Client, "content.body").String() + " " +
		gjson.GetBytes(e.Client, "content.name").String() + " " + gjson.GetBytes(e.Client, "content.topic").String())
	n := 0
	for _, w := range words {
		n += strings.Count(text, w)
	}
	return float64(n)
}

// searchContext is the events around a result that the user may see, with
// the senders' current profiles when asked.
func (s *Server) searchContext(ctx context.Context, dev *userapi.Device, e *rsstorage.Event, v *historyView, before, after int, profiles bool) (*searchContext, error) {
	user := dev.UserID.String()
	evsBefore, err := s.events.RoomEvents(ctx, e.RoomNID, 0, e.StreamPos-1, before, true)
	if err != nil {
		return nil, err
	}
	evsAfter, err := s.events.RoomEvents(ctx, e.RoomNID, e.StreamPos, 1<<62, after, false)
	if err != nil {
		return nil, err
	}
	c := &searchContext{Start: Token{PDU: e.StreamPos - 1}.String(), End: Token{PDU: e.StreamPos}.String(),
		EventsBefore: []json.RawMessage{}, EventsAfter: []json.RawMessage{}}
	senders := map[string]bool{e.Sender: true}
	for _, ev := range v.filter(evsBefore, user) {
		c.EventsBefore = append(c.EventsBefore, s.clientEvent(dev.SessionID, ev))
		senders[ev.Sender] = true
		c.Start = Token{PDU: ev.StreamPos - 1}.String()
	}
	for _, ev := range v.filter(evsAfter, user) {
		c.EventsAfter = append(c.EventsAfter, s.clientEvent(dev.SessionID, ev))
		senders[ev.Sender] = true
		c.End = Token{PDU: ev.StreamPos}.String()
	}
	if profiles {
		c.ProfileInfo = map[string]map[string]string{}
		roomID := gjson.GetBytes(e.Client, "room_id").String()
		for sender := range senders {
			p := map[string]string{}
			if m, err := s.rooms.StateEvent(ctx, roomID, spec.MRoomMember, sender); err == nil {
				if name := gjson.GetBytes(m.Content, "displayname"); name.Type == gjson.String {
					p["displayname"] = name.Str
				}
				if avatar := gjson.GetBytes(m.Content, "avatar_url"); avatar.Type == gjson.String {
					p["avatar_url"] = avatar.Str
				}
			}
			c.ProfileInfo[sender] = p
		}
	}
	return c, nil
}

// searchGroups partitions the results by room or sender, as asked.
func searchGroups(groupBy []struct {
	Key string `json:"key"`
}, evs []*rsstorage.Event, joined map[int64]rsstorage.UserMembership) map[string]any {
	if len(groupBy) == 0 {
		return nil
	}
	out := map[string]any{}
	for _, g := range groupBy {
		if g.Key != "room_id" && g.Key != "sender" {
			continue
		}
		type group struct {
			Results []string `json:"results"`
			Order   int      `json:"order"`
		}
		groups := map[string]*group{}
		for _, e := range evs {
			k := e.Sender
			if g.Key == "room_id" {
				k = joined[e.RoomNID].RoomID
			}
			if groups[k] == nil {
				groups[k] = &group{Order: len(groups) + 1}
			}
			groups[k].Results = append(groups[k].Results, e.ID)
		}
		out[g.Key] = groups
	}
	return out
}
