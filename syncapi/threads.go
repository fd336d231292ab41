package syncapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"github.com/tidwall/sjson"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// Threads: a thread root is served with its m.thread aggregation (the
// newest reply, the number of replies, whether the user took part), and
// GET /rooms/{roomId}/threads lists a room's threads by newest activity.
// The store keeps each root's reply count and newest reply on the root's
// row, so only roots cost a lookup. Replies by ignored users are counted.

const (
	defaultThreadsLimit = 20
	maxThreadsLimit     = 100
)

// render is the client JSON of a timeline event for dev, with its thread
// aggregation when it is a thread root.
func (s *Server) render(ctx context.Context, dev *userapi.Device, e *rsstorage.Event) json.RawMessage {
	raw := s.clientEvent(dev.SessionID, e)
	if e.ThreadCount == 0 {
		return raw
	}
	latest, err := s.events.EventAtPosition(ctx, e.ThreadLatest)
	if err != nil {
		slog.Warn("syncapi: newest thread reply", "root", e.ID, "err", err)
		return raw
	}
	user := dev.UserID.String()
	participated := e.Sender == user
	if !participated {
		if participated, err = s.events.ThreadParticipant(ctx, e.ID, user); err != nil {
			return raw
		}
	}
	agg, _ := json.Marshal(map[string]any{
		"latest_event":              json.RawMessage(s.clientEvent(dev.SessionID, latest)),
		"count":                     e.ThreadCount,
		"current_user_participated": participated,
	})
	out, err := sjson.SetRawBytes(raw, `unsigned.m\.relations.m\.thread`, agg)
	if err != nil {
		return raw
	}
	return out
}

// handleThreads is GET /_matrix/client/v1/rooms/{roomId}/threads.
func (s *Server) handleThreads(r *http.Request, dev *userapi.Device) (any, error) {
	ctx := r.Context()
	q := r.URL.Query()
	a, err := s.access(ctx, dev, mux.Vars(r)["roomId"])
	if err != nil {
		return nil, err
	}
	var participant string
	switch q.Get("include") {
	case "", "all":
	case "participated":
		participant = dev.UserID.String()
	default:
		return nil, mxhttp.InvalidParam("include must be all or participated")
	}
	limit, err := parseLimit(q.Get("limit"), defaultThreadsLimit, maxThreadsLimit)
	if err != nil {
		return nil, err
	}
	var before int64
	if v := q.Get("from"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before <= 0 {
			return nil, mxhttp.InvalidParam("from is not a token of this endpoint")
		}
	}
	roots, err := s.events.ThreadRoots(ctx, a.roomNID, before, participant, limit)
	if err != nil {
		return nil, err
	}
	chunk := make([]json.RawMessage, 0, len(roots))
	for _, e := range a.view.filter(roots, dev.UserID.String()) {
		chunk = append(chunk, s.render(ctx, dev, e))
	}
	resp := map[string]any{"chunk": chunk}
	if len(roots) == limit {
		resp["next_batch"] = strconv.FormatInt(roots[len(roots)-1].ThreadLatest, 10)
	}
	return resp, nil
}
