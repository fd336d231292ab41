package adminapi

import (
	"errors"
	"net/http"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
	usstorage "github.com/rohrpost/rohrpost/userapi/storage"
)

// The reports of users filed with the client API's POST
// /users/{userId}/report: the userapi's reports table, read through its
// read-only view and deleted through the user API, shaped like the event
// reports.

func userReportJSON(rep usstorage.Report) map[string]any {
	return map[string]any{"id": rep.ID, "received_ts": rep.ReceivedTS, "user_id": rep.Reporter,
		"target_user_id": rep.UserID, "reason": nullable(rep.Reason)}
}

// listUserReports is GET /v1/user_reports: newest first unless dir=f,
// filtered by reporter (user_id) and reported user (target_user_id),
// both matching ids that contain the value.
func (s *Server) listUserReports(r *http.Request, _ *userapi.Device) (any, error) {
	p, err := parsePaging(r, 100)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	reports, total, err := s.userStore.UserReports(r.Context(), usstorage.UserReportQuery{Reporter: q.Get("user_id"),
		Target: q.Get("target_user_id"), Forward: q.Get("dir") == "f", Offset: p.From, Limit: p.Limit})
	if err != nil {
		return nil, err
	}
	list := make([]map[string]any, 0, len(reports))
	for _, rep := range reports {
		list = append(list, userReportJSON(rep))
	}
	out := map[string]any{"user_reports": list, "total": total}
	if p.From+len(list) < total && len(list) > 0 {
		out["next_token"] = p.From + len(list)
	}
	return out, nil
}

// getUserReport is GET /v1/user_reports/{reportId}.
func (s *Server) getUserReport(r *http.Request, _ *userapi.Device) (any, error) {
	id, err := reportID(r)
	if err != nil {
		return nil, err
	}
	rep, err := s.userStore.UserReport(r.Context(), id)
	if errors.Is(err, usstorage.ErrNotFound) {
		return nil, mxhttp.NotFound("User report not found")
	} else if err != nil {
		return nil, err
	}
	return userReportJSON(*rep), nil
}

// deleteUserReport is DELETE /v1/user_reports/{reportId}.
func (s *Server) deleteUserReport(r *http.Request, _ *userapi.Device) (any, error) {
	id, err := reportID(r)
	if err != nil {
		return nil, err
	}
	if err := s.users.DeleteUserReport(r.Context(), id); errors.Is(err, userapi.ErrNotFound) {
		return nil, mxhttp.NotFound("User report not found")
	} else if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
