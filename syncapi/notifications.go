package syncapi

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
	"github.com/rohrpost/rohrpost/userapi/pushrules"
)

const (
	defaultNotificationsLimit = 20
	maxNotificationsLimit     = 100
)

// handleNotifications is GET /notifications: the events that notified the
// user, newest first, by the same decision as the unread counts and push
// notifications (docs/decisions/0009), in the rooms the user is joined to.
// The token is the stream position of the last event returned.
func (s *Server) handleNotifications(r *http.Request, dev *userapi.Device) (any, error) {
	q := r.URL.Query()
	limit, err := parseLimit(q.Get("limit"), defaultNotificationsLimit, maxNotificationsLimit)
	if err != nil {
		return nil, err
	}
	before := int64(math.MaxInt64)
	if v := q.Get("from"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 0 {
			return nil, mxhttp.InvalidParam("from is not a token of this endpoint")
		}
	}
	highlightOnly := q.Get("only") == "highlight"
	ctx := r.Context()
	user := dev.UserID.String()
	rules, err := s.pushRulesOf(ctx, user)
	if err != nil {
		return nil, err
	}
	memberships, err := s.events.MembershipsOfUser(ctx, user)
	if err != nil {
		return nil, err
	}
	rooms := map[int64]int64{}
	roomIDs := map[int64]string{}
	mentionsOnly := map[int64]bool{}
	for _, m := range memberships {
		if m.Membership != "join" {
			continue
		}
		switch rules.RoomMode(m.RoomID) {
		case pushrules.Muted:
			continue
		case pushrules.MentionsOnly:
			mentionsOnly[m.RoomNID] = true
		}
		rooms[m.RoomNID], roomIDs[m.RoomNID] = m.StreamPos, m.RoomID
	}
	found, err := s.events.NotifyingEvents(ctx, user, rooms, before, highlightOnly, limit)
	if err != nil {
		return nil, err
	}
	read, err := s.store.ReadPositions(ctx, user)
	if err != nil {
		return nil, err
	}
	nids := make([]int64, len(found))
	for i, f := range found {
		nids[i] = f.NID
	}
	evs, err := s.events.EventsByNID(ctx, nids)
	if err != nil {
		return nil, err
	}
	byNID := make(map[int64]int, len(evs))
	for i, e := range evs {
		byNID[e.NID] = i
	}
	notifications := make([]any, 0, len(found))
	for _, f := range found {
		i, ok := byNID[f.NID]
		if !ok || (mentionsOnly[f.RoomNID] && !f.Highlight) {
			continue
		}
		e := evs[i]
		actions := []any{"notify"}
		if f.Highlight {
			actions = append(actions, map[string]any{"set_tweak": "highlight"})
		}
		room := roomIDs[f.RoomNID]
		notifications = append(notifications, map[string]any{
			"actions": actions, "event": json.RawMessage(s.render(ctx, dev, e)), "profile_tag": nil,
			"read": f.StreamPos <= read[room], "room_id": room, "ts": e.OriginTS,
		})
	}
	out := map[string]any{"notifications": notifications}
	if len(found) == limit {
		out["next_token"] = strconv.FormatInt(found[len(found)-1].StreamPos, 10)
	}
	return out, nil
}
