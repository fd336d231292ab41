package adminapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
	usstorage "github.com/rohrpost/rohrpost/userapi/storage"
)

// The reports users file with the client API's /report (clientapi/
// report.go) are the userapi's table; the admin API reads them through
// its read-only view and deletes them through the user API.

// eventReportJSON is a report as Synapse lists it: user_id is the
// reporter, sender the reported event's sender, name and
// canonical_alias the room's now. Synapse's score is not stored
// (the spec has dropped it).
func (s *Server) eventReportJSON(r *http.Request, rep usstorage.Report, rooms map[string][2]any) map[string]any {
	room, ok := rooms[rep.RoomID]
	if !ok {
		room = [2]any{nil, nil}
		if rs, err := s.roomStore.AdminRooms(r.Context(), s.localSuffix(), rep.RoomID); err == nil && len(rs) == 1 {
			j := roomJSON(rs[0])
			room = [2]any{j["name"], j["canonical_alias"]}
		}
		rooms[rep.RoomID] = room
	}
	return map[string]any{
		"id": rep.ID, "received_ts": rep.ReceivedTS, "room_id": rep.RoomID, "name": room[0],
		"canonical_alias": room[1], "event_id": rep.EventID, "user_id": rep.Reporter, "reason": nullable(rep.Reason),
		"sender": rep.UserID,
	}
}

// listEventReports is GET /v1/event_reports: newest first unless dir=f,
// filtered by reporter (user_id) and room (room_id), both matching ids
// that contain the value, as Synapse does.
func (s *Server) listEventReports(r *http.Request, _ *userapi.Device) (any, error) {
	p, err := parsePaging(r, 100)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	reports, total, err := s.userStore.EventReports(r.Context(), usstorage.EventReportQuery{Reporter: q.Get("user_id"),
		RoomID: q.Get("room_id"), Forward: q.Get("dir") == "f", Offset: p.From, Limit: p.Limit})
	if err != nil {
		return nil, err
	}
	rooms := map[string][2]any{}
	list := make([]map[string]any, 0, len(reports))
	for _, rep := range reports {
		list = append(list, s.eventReportJSON(r, rep, rooms))
	}
	out := map[string]any{"event_reports": list, "total": total}
	// Synapse's next_token here is a number.
	if p.From+len(list) < total && len(list) > 0 {
		out["next_token"] = p.From + len(list)
	}
	return out, nil
}

// reportID reads the path's {reportId}: Synapse's 400 M_INVALID_PARAM
// for anything but a positive integer.
func reportID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(mux.Vars(r)["reportId"], 10, 64)
	if err != nil || id <= 0 {
		return 0, mxhttp.InvalidParam("The report_id parameter must be a string representing a positive integer.")
	}
	return id, nil
}

// getEventReport is GET /v1/event_reports/{reportId}: the list's fields
// and the reported event as stored (event_json; null once the server no
// longer has it).
func (s *Server) getEventReport(r *http.Request, _ *userapi.Device) (any, error) {
	id, err := reportID(r)
	if err != nil {
		return nil, err
	}
	rep, err := s.userStore.EventReport(r.Context(), id)
	if errors.Is(err, usstorage.ErrNotFound) {
		return nil, mxhttp.NotFound("Event report not found")
	} else if err != nil {
		return nil, err
	}
	out := s.eventReportJSON(r, *rep, map[string][2]any{})
	out["event_json"] = nil
	ev, err := s.roomStore.EventByID(r.Context(), rep.EventID)
	switch {
	case errors.Is(err, rsstorage.ErrNotFound):
	case err != nil:
		return nil, err
	case ev != nil && len(ev.PDU) > 0:
		out["event_json"] = json.RawMessage(ev.PDU)
	}
	return out, nil
}

// deleteEventReport is DELETE /v1/event_reports/{reportId}.
func (s *Server) deleteEventReport(r *http.Request, _ *userapi.Device) (any, error) {
	id, err := reportID(r)
	if err != nil {
		return nil, err
	}
	if err := s.users.DeleteEventReport(r.Context(), id); errors.Is(err, userapi.ErrNotFound) {
		return nil, mxhttp.NotFound("Event report not found")
	} else if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
