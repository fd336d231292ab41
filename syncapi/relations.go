package syncapi

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// handleRelations is GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]].
func (s *Server) handleRelations(r *http.Request, dev *userapi.Device) (any, error) {
	ctx := r.Context()
	v := mux.Vars(r)
	q := r.URL.Query()
	a, parent, err := s.visibleEvent(r, dev, v["roomId"], v["eventId"])
	if err != nil {
		return nil, err
	}
	dir := q.Get("dir")
	if dir == "" {
		dir = "b"
	}
	if dir != "b" && dir != "f" {
		return nil, mxhttp.InvalidParam("dir must be b or f")
	}
	limit, err := parseLimit(q.Get("limit"), 50, maxTimelineLimit)
	if err != nil {
		return nil, err
	}
	from, hasFrom, err := parsePosition(q.Get("from"))
	if err != nil {
		return nil, err
	}
	to, hasTo, err := parsePosition(q.Get("to"))
	if err != nil {
		return nil, err
	}
	backwards := dir == "b"
	lower, upper := a.from, a.upto
	if backwards {
		if hasFrom {
			upper = min(upper, from)
		}
		if hasTo {
			lower = max(lower, to)
		}
	} else {
		if hasFrom {
			lower = max(lower, from)
		}
		if hasTo {
			upper = min(upper, to)
		}
	}
	evs, err := s.events.Relations(ctx, parent.ID, v["relType"], v["eventType"], lower, upper, limit, backwards)
	if err != nil {
		return nil, err
	}
	chunk := make([]json.RawMessage, 0, len(evs))
	for _, e := range a.view.filter(evs, dev.UserID.String()) {
		if e.RoomNID == a.roomNID {
			chunk = append(chunk, s.clientEvent(dev.SessionID, e))
		}
	}
	resp := map[string]any{"chunk": chunk}
	if len(evs) == limit {
		last := evs[len(evs)-1].StreamPos
		next := Token{PDU: last}
		if backwards {
			next.PDU = last - 1
		}
		resp["next_batch"] = next.String()
	}
	return resp, nil
}
