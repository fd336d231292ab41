package syncapi

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"
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
	p, err := parsePagination(q, 50)
	if err != nil {
		return nil, err
	}
	lower, upper := p.window(a)
	evs, err := s.events.Relations(ctx, parent.ID, v["relType"], v["eventType"], lower, upper, p.limit, p.backwards)
	if err != nil {
		return nil, err
	}
	chunk := make([]json.RawMessage, 0, len(evs))
	for _, e := range a.view.filter(evs, dev.UserID.String()) {
		if e.RoomNID == a.roomNID {
			chunk = append(chunk, s.render(ctx, dev, e))
		}
	}
	resp := map[string]any{"chunk": chunk}
	if len(evs) == p.limit && len(evs) > 0 {
		resp["next_batch"] = p.next(evs).String()
	}
	return resp, nil
}
