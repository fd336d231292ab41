package federationapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/roomserver"
)

// Typing, receipts and presence from other servers. The federation API is
// the border: it checks each EDU against the sender (users of the origin
// only), the room's server ACL and current state (the user is joined),
// and hands what passes, as the spec's EDU with only the entries that
// passed, to the sync API on bus.EphemeralInSubject. The sync API owns
// the typing stream and the receipt and presence tables and applies it
// (syncapi/ephemeral_in.go). The other direction is ephemeral_out.go.

var (
	errNotJoined    = errors.New("user is not joined to the room")
	errUnknownRoom  = errors.New("room unknown here")
	errNoSharedRoom = errors.New("user shares no room with this server")
)

// ephemeral is the federation API's side of typing, receipts and presence.
type ephemeral struct {
	bus     *bus.Conn
	consume interface{ Stop() }
	// deliver hands an accepted EDU to the sync API.
	deliver func(context.Context, gomatrixserverlib.EDU) error
}

func newEphemeral(conn *bus.Conn) ephemeral {
	e := ephemeral{bus: conn}
	e.deliver = e.publishIn
	return e
}

// publishIn puts an accepted EDU on the stream the sync API follows.
func (e *ephemeral) publishIn(ctx context.Context, edu gomatrixserverlib.EDU) error {
	data, err := json.Marshal(edu)
	if err != nil {
		return err
	}
	if _, err := e.bus.JS.Publish(ctx, bus.EphemeralInSubject, data); err != nil {
		return fmt.Errorf("hand %s to the sync API: %w", edu.Type, err)
	}
	return nil
}

// onTyping takes m.typing: a user of origin joined to the room.
func (s *Server) onTyping(ctx context.Context, origin spec.ServerName, content json.RawMessage) error {
	t, err := parseTyping(origin, content)
	if err != nil {
		return err
	}
	if err := s.mayUseRoom(ctx, origin, t.RoomID); err != nil {
		return err
	}
	if err := s.checkJoined(ctx, t.RoomID, t.UserID); err != nil {
		return err
	}
	return s.deliverEDU(ctx, spec.MTyping, origin, t)
}

// onReceipt takes m.receipt: the m.read receipts of users of origin in
// rooms they are joined to. A room whose ACL refuses origin loses all its
// receipts.
func (s *Server) onReceipt(ctx context.Context, origin spec.ServerName, content json.RawMessage) error {
	receipts, problems := parseReceipts(origin, content)
	if len(receipts) == 0 {
		return problems
	}
	rooms := map[string]map[string]map[string]any{}
	roomChecks := map[string]error{} // nil: origin may use the room
	for _, r := range receipts {
		err, checked := roomChecks[r.RoomID]
		if !checked {
			err = s.mayUseRoom(ctx, origin, r.RoomID)
			roomChecks[r.RoomID] = err
		}
		if err == nil {
			err = s.checkJoined(ctx, r.RoomID, r.UserID)
		}
		if err != nil {
			problems = errors.Join(problems, fmt.Errorf("receipt of %s in %s: %w", r.UserID, r.RoomID, err))
			continue
		}
		data := map[string]any{}
		if r.TS != 0 {
			data["ts"] = r.TS
		}
		if r.ThreadID != "" {
			data["thread_id"] = r.ThreadID
		}
		if rooms[r.RoomID] == nil {
			rooms[r.RoomID] = map[string]map[string]any{"m.read": {}}
		}
		rooms[r.RoomID]["m.read"][r.UserID] = map[string]any{"event_ids": []string{r.EventID}, "data": data}
	}
	if len(rooms) > 0 {
		if err := s.deliverEDU(ctx, spec.MReceipt, origin, rooms); err != nil {
			return errors.Join(err, problems)
		}
	}
	return problems
}

// onPresence takes m.presence for users of origin who share a room with
// this server. With presence switched off nothing is taken.
func (s *Server) onPresence(ctx context.Context, origin spec.ServerName, content json.RawMessage) error {
	if !s.cfg.Presence.Enabled {
		slog.Debug("federation: presence is off, m.presence ignored", "origin", origin)
		return nil
	}
	updates, problems := parsePresence(origin, content)
	var push []presenceUpdate
	for _, p := range updates {
		if err := s.checkSharesRoom(ctx, p.UserID); err != nil {
			problems = errors.Join(problems, fmt.Errorf("presence of %s: %w", p.UserID, err))
			continue
		}
		push = append(push, p)
	}
	if len(push) > 0 {
		if err := s.deliverEDU(ctx, spec.MPresence, origin, map[string]any{"push": push}); err != nil {
			return errors.Join(err, problems)
		}
	}
	return problems
}

func (s *Server) deliverEDU(ctx context.Context, typ string, origin spec.ServerName, content any) error {
	c, err := json.Marshal(content)
	if err != nil {
		return err
	}
	return s.ephemeral.deliver(ctx, gomatrixserverlib.EDU{Type: typ, Origin: string(origin), Content: c})
}

// mayUseRoom refuses a room we do not know and one whose server ACL
// refuses origin.
func (s *Server) mayUseRoom(ctx context.Context, origin spec.ServerName, roomID string) error {
	servers, err := s.rooms.ServersInRoom(ctx, roomID)
	if errors.Is(err, roomserver.ErrRoomNotFound) || err == nil && !slices.ContainsFunc(servers, s.isLocal) {
		return fmt.Errorf("%s: %w", roomID, errUnknownRoom)
	}
	if err != nil {
		return err
	}
	return s.checkACL(ctx, roomID, origin)
}

// checkJoined asks current state whether the user is joined.
func (s *Server) checkJoined(ctx context.Context, roomID, userID string) error {
	u, err := spec.NewUserID(userID, true)
	if err != nil {
		return err
	}
	m, err := s.rooms.Membership(ctx, roomID, *u)
	if errors.Is(err, roomserver.ErrRoomNotFound) {
		return fmt.Errorf("%s: %w", roomID, errUnknownRoom)
	}
	if err != nil {
		return err
	}
	if m != spec.Join {
		return fmt.Errorf("%s in %s: %w", userID, roomID, errNotJoined)
	}
	return nil
}

// checkSharesRoom asks whether the user is joined to a room a local user
// is joined to: only then may anyone here see their presence.
func (s *Server) checkSharesRoom(ctx context.Context, userID string) error {
	u, err := spec.NewUserID(userID, true)
	if err != nil {
		return err
	}
	rooms, err := s.rooms.JoinedRooms(ctx, *u)
	if err != nil {
		return err
	}
	for _, roomID := range rooms {
		servers, err := s.rooms.ServersInRoom(ctx, roomID)
		if err == nil && slices.ContainsFunc(servers, s.isLocal) {
			return nil
		}
	}
	return errNoSharedRoom
}

// ephemeralRoutes mounts nothing: typing, receipts and presence travel
// in /send transactions only.
func (s *Server) ephemeralRoutes(*mux.Router) {}
