package userapi

import (
	"encoding/json"
	"log/slog"

	"github.com/rohrpost/rohrpost/internal/bus"
)

// AccountDataChanged is published on bus.AccountDataSubject after a user's
// account data changed, so every sync server can wake that user's syncs.
type AccountDataChanged struct {
	UserID    string `json:"user_id"`
	StreamPos int64  `json:"stream_pos"`
}

// publishAccountData tells sync servers; losing the message only delays
// delivery to the next wake, since the data is already committed.
func (s *Server) publishAccountData(user string, pos int64) {
	if s.bus == nil {
		return
	}
	data, _ := json.Marshal(AccountDataChanged{UserID: user, StreamPos: pos})
	if err := s.bus.NC.Publish(bus.AccountDataSubject, data); err != nil {
		slog.Warn("userapi: publish account data change", "user", user, "err", err)
	}
}
