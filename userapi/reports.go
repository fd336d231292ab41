package userapi

import (
	"context"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/userapi/storage"
)

// maxReasonLength bounds what a report stores.
const maxReasonLength = 4096

func (s *Server) Report(ctx context.Context, r Report) error {
	if len(r.Reason) > maxReasonLength {
		r.Reason = r.Reason[:maxReasonLength]
	}
	return s.store.AddReport(ctx, storage.Report{Reporter: r.Reporter.String(), RoomID: r.RoomID, EventID: r.EventID,
		UserID: r.UserID, Reason: r.Reason, ReceivedTS: time.Now().UnixMilli()})
}

func (s *Server) Reports(ctx context.Context, before int64, limit int) ([]Report, error) {
	rows, err := s.store.Reports(ctx, before, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Report, 0, len(rows))
	for _, r := range rows {
		reporter, err := spec.NewUserID(r.Reporter, true)
		if err != nil {
			continue
		}
		out = append(out, Report{ID: r.ID, Reporter: *reporter, RoomID: r.RoomID, EventID: r.EventID, UserID: r.UserID,
			Reason: r.Reason, ReceivedTS: r.ReceivedTS})
	}
	return out, nil
}

func (s *Server) DeleteEventReport(ctx context.Context, id int64) error {
	return userError(s.store.DeleteEventReport(ctx, id))
}

func (s *Server) DeleteUserReport(ctx context.Context, id int64) error {
	return userError(s.store.DeleteUserReport(ctx, id))
}
