package federationapi

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/serverkey"
	"github.com/rohrpost/rohrpost/roomserver"
)

// A local user joins a room that lives elsewhere: gomatrixserverlib's
// PerformJoin asks one resident server for a template (make_join), signs
// it and sends it (send_join), and checks the answer (signatures, hashes,
// auth of every state event). The roomserver then stores the room with
// that state and our join on top (ImportJoin). Servers are tried in turn.

// JoinRemoteRoom joins a local user to a room through one of req.Servers.
func (s *Server) JoinRemoteRoom(ctx context.Context, req JoinRequest) (*JoinResponse, error) {
	key, ok := s.keyFor(req.UserID.Domain())
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a local user", ErrNotAllowed, req.UserID.String())
	}
	roomID, err := spec.NewRoomID(req.RoomID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	var lastErr error = ErrNoServer
	tried := map[spec.ServerName]bool{}
	for _, server := range req.Servers {
		if tried[server] || s.isLocal(server) {
			continue
		}
		tried[server] = true
		if !s.policy.Allowed(server) {
			lastErr = fmt.Errorf("%w: %s", ErrNotAllowed, server)
			continue
		}
		content := map[string]any{}
		if len(req.Content) > 0 {
			if err := json.Unmarshal(req.Content, &content); err != nil {
				return nil, fmt.Errorf("%w: member content: %v", ErrNotFound, err)
			}
		}
		res, ferr := s.performJoin(ctx, server, key, roomID, req.UserID, content)
		if ferr != nil && s.invitedNow(ctx, req) {
			// The invite may reach us before the inviting server has
			// stored it: a join right after it is refused for a moment.
			for wait := 200 * time.Millisecond; ferr != nil && wait <= 800*time.Millisecond && isRemoteForbidden(ferr.Err); wait *= 2 {
				time.Sleep(wait)
				res, ferr = s.performJoin(ctx, server, key, roomID, req.UserID, content)
			}
		}
		if ferr != nil {
			lastErr = fmt.Errorf("%w: %s: %v", ErrNoServer, server, ferr.Err)
			if remote := remoteMatrixError(ferr.Err); remote != nil {
				// The server answered and refused (M_UNABLE_TO_AUTHORISE_JOIN
				// sends us on to the next one): the client hears why.
				lastErr = remote
			}
			slog.Info("federation: remote join failed", "room_id", req.RoomID, "server", server, "err", lastErr)
			continue
		}
		if resident, _ := s.localServerInRoom(ctx, req.RoomID); resident {
			// We are in the room already (our user needed another server
			// to authorise a restricted join): the join is one more event
			// of it, not a room to import.
			if err := s.inputOwnJoin(ctx, server, res.JoinEvent); err != nil {
				return nil, err
			}
			return &JoinResponse{RoomID: req.RoomID, EventID: res.JoinEvent.EventID()}, nil
		}
		version := res.JoinEvent.Version()
		out, err := s.rooms.ImportJoin(ctx, roomserver.ImportJoinRequest{
			RoomVersion: string(version),
			AuthChain:   res.StateSnapshot.GetAuthEvents().UntrustedEvents(version),
			State:       res.StateSnapshot.GetStateEvents().UntrustedEvents(version),
			Join:        res.JoinEvent,
		})
		if err != nil {
			return nil, err
		}
		return &JoinResponse{RoomID: req.RoomID, EventID: out.EventID}, nil
	}
	return nil, lastErr
}

// inputOwnJoin inputs our user's join, made through server, into a room
// we are in, fetching from server what it builds on that we lack.
func (s *Server) inputOwnJoin(ctx context.Context, server spec.ServerName, join gomatrixserverlib.PDU) error {
	err := s.input(ctx, join, roomserver.InputNew)
	if isGap(err) {
		verImpl, verr := gomatrixserverlib.GetRoomVersion(join.Version())
		if verr != nil {
			return verr
		}
		err = s.fillGap(ctx, server, verImpl, join)
	}
	return err
}

// performJoin is one make_join/send_join through server.
func (s *Server) performJoin(ctx context.Context, server spec.ServerName, key serverkey.Key, roomID *spec.RoomID, user spec.UserID, content map[string]any) (*gomatrixserverlib.PerformJoinResponse, *gomatrixserverlib.FederationError) {
	c := make(map[string]any, len(content))
	for k, v := range content {
		c[k] = v
	}
	return gomatrixserverlib.PerformJoin(ctx, joinClient{s.client}, gomatrixserverlib.PerformJoinInput{
		UserID: &user, RoomID: roomID, ServerName: server, Content: c,
		PrivateKey: key.Private, KeyID: key.ID, KeyRing: s.keyRing,
		EventProvider: s.eventProvider(server, key.ServerName),
		UserIDQuerier: userIDForSender,
		GetOrCreateSenderID: func(context.Context, spec.UserID, spec.RoomID, string) (spec.SenderID, ed25519.PrivateKey, error) {
			return "", nil, errors.New("pseudonymous ids are not supported")
		},
		StoreSenderIDFromPublicID: func(context.Context, spec.SenderID, string, spec.RoomID) error { return nil },
	})
}

// invitedNow tells whether the user holds an invite to the room.
func (s *Server) invitedNow(ctx context.Context, req JoinRequest) bool {
	m, err := s.rooms.Membership(ctx, req.RoomID, req.UserID)
	return err == nil && m == spec.Invite
}

// isRemoteForbidden tells whether another server refused with 403.
func isRemoteForbidden(err error) bool {
	return isHTTPStatus(err, http.StatusForbidden)
}

// eventProvider fetches events the send_join answer refers to but does
// not carry, from the server we join through.
func (s *Server) eventProvider(server, origin spec.ServerName) gomatrixserverlib.EventProvider {
	return func(version gomatrixserverlib.RoomVersion, ids []string) ([]gomatrixserverlib.PDU, error) {
		verImpl, err := gomatrixserverlib.GetRoomVersion(version)
		if err != nil {
			return nil, err
		}
		var out []gomatrixserverlib.PDU
		for _, id := range ids {
			txn, err := s.client.GetEvent(context.Background(), origin, server, id)
			if err != nil {
				return nil, err
			}
			for _, raw := range txn.PDUs {
				p, err := verImpl.NewEventFromUntrustedJSON(raw)
				if err != nil {
					return nil, err
				}
				out = append(out, p)
			}
		}
		return out, nil
	}
}

// joinClient gives gomatrixserverlib's join the federation client in the
// shape it asks for.
type joinClient struct{ fc fclient.FederationClient }

func (c joinClient) MakeJoin(ctx context.Context, origin, s spec.ServerName, roomID, userID string) (gomatrixserverlib.MakeJoinResponse, error) {
	res, err := c.fc.MakeJoin(ctx, origin, s, roomID, userID)
	return &res, err
}

func (c joinClient) SendJoin(ctx context.Context, origin, s spec.ServerName, event gomatrixserverlib.PDU) (gomatrixserverlib.SendJoinResponse, error) {
	res, err := c.fc.SendJoin(ctx, origin, s, event)
	return &res, err
}
