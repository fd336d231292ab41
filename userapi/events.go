package userapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/userapi/storage"
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

// tokensForgotten is published on bus.TokensForgottenSubject so that every
// replica of the user API drops the devices from its token cache.
type tokensForgotten struct {
	Hashes [][]byte `json:"hashes"`
}

// forgetTokens drops cached devices here and on every other replica. The
// change is committed first, so a replica that misses the message and
// has the device cached is the only risk; it is why the message goes out
// before the caller is answered.
func (s *Server) forgetTokens(hashes ...[]byte) {
	s.tokens.forget(hashes...)
	if s.bus == nil || len(hashes) == 0 {
		return
	}
	data, _ := json.Marshal(tokensForgotten{Hashes: hashes})
	if err := s.bus.NC.Publish(bus.TokensForgottenSubject, data); err != nil {
		slog.Error("userapi: publish forgotten tokens", "err", err)
	}
}

// followForgottenTokens applies other replicas' revocations.
func (s *Server) followForgottenTokens() error {
	if s.bus == nil {
		return nil
	}
	// Revocations broadcast while the connection was down are lost.
	s.bus.OnReconnect(s.tokens.clear)
	sub, err := s.bus.NC.Subscribe(bus.TokensForgottenSubject, func(m *nats.Msg) {
		var f tokensForgotten
		if err := json.Unmarshal(m.Data, &f); err != nil {
			slog.Warn("userapi: bad forgotten tokens", "err", err)
			return
		}
		s.tokens.forget(f.Hashes...)
	})
	if err != nil {
		return fmt.Errorf("userapi: subscribe: %w", err)
	}
	s.subs = append(s.subs, sub)
	return s.bus.NC.Flush()
}

// Stop ends the user API's subscriptions.
func (s *Server) Stop() {
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
}

// UserErased is published on bus.UserErasedSubject when an account was
// erased, so that sync servers serve its events redacted from then on.
type UserErased struct {
	UserID string `json:"user_id"`
}

// Erase marks the account erased and tells the sync servers.
func (s *Server) Erase(ctx context.Context, user spec.UserID) error {
	if err := s.store.SetErased(ctx, user.String()); err != nil {
		return userError(err)
	}
	removed, err := s.store.EraseData(ctx, user.String())
	if err != nil {
		return fmt.Errorf("erase %s: %w", user.String(), err)
	}
	slog.Info("userapi: account erased", "user", user.String(), "removed", removed)
	if s.bus != nil {
		data, _ := json.Marshal(UserErased{UserID: user.String()})
		if err := s.bus.NC.Publish(bus.UserErasedSubject, data); err != nil {
			slog.Error("userapi: publish erasure", "user", user.String(), "err", err)
		}
	}
	return nil
}

// DevicesDeleted is published on bus.DevicesDeletedSubject after devices
// were deleted (logout, deletion, password change, deactivation), so that
// their to-device inboxes go too.
type DevicesDeleted struct {
	UserID    string   `json:"user_id"`
	DeviceIDs []string `json:"device_ids"`
}

// publishDevicesDeleted tells the sync servers which of the revoked
// devices were deleted; a lost message leaves an inbox nobody reads.
func (s *Server) publishDevicesDeleted(revoked []storage.Revoked) {
	if s.bus == nil {
		return
	}
	byUser := map[string][]string{}
	for _, r := range revoked {
		if r.DeviceID != "" {
			byUser[r.UserID] = append(byUser[r.UserID], r.DeviceID)
		}
	}
	for user, devices := range byUser {
		data, _ := json.Marshal(DevicesDeleted{UserID: user, DeviceIDs: devices})
		if err := s.bus.NC.Publish(bus.DevicesDeletedSubject, data); err != nil {
			slog.Warn("userapi: publish deleted devices", "user", user, "err", err)
		}
	}
}

// ErasedUsers lists the erased accounts.
func (s *Server) ErasedUsers(ctx context.Context) ([]string, error) {
	return s.store.ErasedUsers(ctx)
}
