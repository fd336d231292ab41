package federationapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go"

	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/userapi"
)

// End-to-end encryption across servers (docs/decisions/0012): device
// lists and cross-signing keys of remote users, kept in the user API's
// cache and refreshed from m.device_list_update and m.signing_key_update;
// to-device messages (todevice.go); the keys endpoints other servers call
// (e2ee_serve.go) and ours towards them (e2ee_remote.go); what our users'
// changes tell others (devices_sender.go).

// e2ee is the federation API's end-to-end encryption state.
type e2ee struct {
	bus    *bus.Conn
	resync *resyncer
	sub    *nats.Subscription
	cancel context.CancelFunc
	done   chan struct{}
}

func newE2EE(s *Server, b *bus.Conn) *e2ee {
	announce := func(ctx context.Context, u spec.UserID) error { return s.users.NoteRemoteDeviceListChange(ctx, u) }
	return &e2ee{bus: b, resync: newResyncer(s.resyncDeviceList, announce)}
}

// startE2EE makes sure of the to-device stream and starts sending local
// users' device list changes.
func (s *Server) startE2EE(ctx context.Context) error {
	if s.e2ee.bus == nil {
		return nil
	}
	if err := s.e2ee.bus.EnsureFederationToDeviceStream(ctx); err != nil {
		return err
	}
	wake := make(chan struct{}, 1)
	sub, err := followKeyChanges(s.e2ee.bus, wake)
	if err != nil {
		return fmt.Errorf("federation: follow key changes: %w", err)
	}
	s.e2ee.sub = sub
	runCtx, cancel := context.WithCancel(context.Background())
	s.e2ee.cancel, s.e2ee.done = cancel, make(chan struct{})
	go func() {
		defer close(s.e2ee.done)
		s.runDeviceListSender(runCtx, wake)
	}()
	return nil
}

// stopE2EE ends sending and fetching; the sender's place is kept.
func (s *Server) stopE2EE() {
	if s.e2ee.sub != nil {
		_ = s.e2ee.sub.Unsubscribe()
	}
	if s.e2ee.cancel != nil {
		s.e2ee.cancel()
		<-s.e2ee.done
	}
	s.e2ee.resync.stop()
}

// onDeviceListUpdate takes m.device_list_update: a device of a user of
// origin changed. It is applied to the cached list when it follows on
// it; a gap, or a list we do not cache yet, is fetched whole. Users no
// local user shares a room with are none of our business.
func (s *Server) onDeviceListUpdate(ctx context.Context, origin spec.ServerName, content json.RawMessage) error {
	u, err := parseDeviceListUpdate(origin, content)
	if err != nil {
		return err
	}
	if shared, err := s.sharesRoom(ctx, u.UserID); err != nil || !shared {
		return err
	}
	outcome, err := s.users.ApplyRemoteDeviceUpdate(ctx, *u)
	if err != nil {
		return err
	}
	if outcome == userapi.UpdateGap || outcome == userapi.UpdateUntracked {
		// Clients hear of the change when the list is fetched (the
		// snapshot records it), so that one change is told once and their
		// query is answered from the cache; without a fetch they hear of
		// it now and their query goes to the user's server.
		slog.Debug("federation: device list to fetch", "user", u.UserID.String(), "stream_id", u.StreamID, "outcome", outcome)
		if !s.e2ee.resync.schedule(u.UserID, true) {
			return s.users.NoteRemoteDeviceListChange(ctx, u.UserID)
		}
	}
	return nil
}

// onSigningKeyUpdate takes m.signing_key_update: a user of origin has new
// cross-signing keys.
func (s *Server) onSigningKeyUpdate(ctx context.Context, origin spec.ServerName, content json.RawMessage) error {
	u, err := parseSigningKeyUpdate(origin, content)
	if err != nil {
		return err
	}
	if shared, err := s.sharesRoom(ctx, u.UserID); err != nil || !shared {
		return err
	}
	return s.users.ApplyRemoteSigningKeyUpdate(ctx, u.UserID, u.MasterKey, u.SelfSigningKey)
}

// sharesRoom tells whether a local user shares a room with user; when
// none does, the user's cached list (if any) goes: their server stops
// telling us of changes.
func (s *Server) sharesRoom(ctx context.Context, user spec.UserID) (bool, error) {
	shared, err := s.rooms.SharedWithLocalSince(ctx, []string{user.String()})
	if err != nil {
		return false, err
	}
	if _, ok := shared.Since[user.String()]; ok {
		return true, nil
	}
	return false, s.users.ForgetRemoteDeviceList(ctx, user)
}

// e2eeRoutes mounts the keys endpoints other servers call.
func (s *Server) e2eeRoutes(f *mux.Router) {
	signed := s.verifier.Handler
	f.Handle("/v1/user/devices/{userId}", signed(s.userDevices)).Methods(http.MethodGet)
	f.Handle("/v1/user/keys/claim", signed(s.userKeysClaim)).Methods(http.MethodPost)
	f.Handle("/v1/user/keys/query", signed(s.userKeysQuery)).Methods(http.MethodPost)
}
