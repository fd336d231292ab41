package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
)

// getAlias is GET /directory/room/{roomAlias}.
func (s *Server) getAlias(r *http.Request) (any, error) {
	alias := mux.Vars(r)["roomAlias"]
	if !validAlias(alias) {
		return nil, mxhttp.InvalidParam("invalid room alias")
	}
	roomID, servers, err := s.resolveAlias(r.Context(), alias)
	if err != nil {
		return nil, err
	}
	if len(servers) == 0 {
		servers = []spec.ServerName{s.cfg.ServerName}
	}
	return map[string]any{"room_id": roomID, "servers": servers}, nil
}

// putAlias is PUT /directory/room/{roomAlias}.
func (s *Server) putAlias(r *http.Request, dev *userapi.Device) (any, error) {
	alias := mux.Vars(r)["roomAlias"]
	if !validAlias(alias) {
		return nil, mxhttp.InvalidParam("invalid room alias")
	}
	var body struct {
		RoomID string `json:"room_id"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	if err := validRoomID(body.RoomID); err != nil {
		return nil, err
	}
	_, server, _ := strings.Cut(alias, ":")
	if !s.isLocalServer(spec.ServerName(server)) {
		return nil, mxhttp.InvalidParam("alias must be on this server")
	}
	if err := s.rooms.PutAlias(r.Context(), alias, body.RoomID, dev.UserID); err != nil {
		if errors.Is(err, roomserver.ErrAliasExists) {
			return nil, &mxhttp.Error{Status: http.StatusConflict, Code: "M_UNKNOWN", Msg: "Room alias " + alias + " already exists."}
		}
		return nil, roomError(err)
	}
	return struct{}{}, nil
}

// isLocalServer asks the set of server names this deployment serves.
func (s *Server) isLocalServer(name spec.ServerName) bool {
	return s.cfg.IsLocal(name)
}

// deleteAlias is DELETE /directory/room/{roomAlias}.
func (s *Server) deleteAlias(r *http.Request, dev *userapi.Device) (any, error) {
	alias := mux.Vars(r)["roomAlias"]
	if !validAlias(alias) {
		return nil, mxhttp.InvalidParam("invalid room alias")
	}
	roomID, err := s.rooms.ResolveAlias(r.Context(), alias)
	if err != nil {
		return nil, roomError(err)
	}
	if err := s.rooms.DeleteAlias(r.Context(), alias, dev.UserID); err != nil {
		return nil, roomError(err)
	}
	s.dropCanonicalAlias(r.Context(), roomID, alias, dev.UserID)
	return struct{}{}, nil
}

// dropCanonicalAlias removes a deleted alias from the room's
// m.room.canonical_alias, so that the room does not advertise an alias
// that no longer leads to it. As the spec recommends, the alias stays
// deleted even when user may not change the canonical alias.
func (s *Server) dropCanonicalAlias(ctx context.Context, roomID, alias string, user spec.UserID) {
	ev, err := s.rooms.StateEvent(ctx, roomID, spec.MRoomCanonicalAlias, "")
	if err != nil {
		return
	}
	content, changed := withoutAlias(ev.Content, alias)
	if !changed {
		return
	}
	key := ""
	_, err = s.rooms.SendEvent(ctx, roomserver.SendEventRequest{RoomID: roomID, Sender: user, Type: spec.MRoomCanonicalAlias, StateKey: &key, Content: content})
	if err != nil {
		slog.Info("deleted alias stays in the canonical alias event", "room", roomID, "alias", alias, "err", err)
	}
}

// withoutAlias returns canonical alias content with alias removed from
// alias and alt_aliases, and whether anything was removed. Other keys
// are kept as they are.
func withoutAlias(raw json.RawMessage, alias string) (json.RawMessage, bool) {
	var c map[string]json.RawMessage
	if json.Unmarshal(raw, &c) != nil {
		return nil, false
	}
	changed := false
	var current string
	if json.Unmarshal(c["alias"], &current) == nil && current == alias {
		delete(c, "alias")
		changed = true
	}
	var alt []string
	if json.Unmarshal(c["alt_aliases"], &alt) == nil && slices.Contains(alt, alias) {
		alt = slices.DeleteFunc(alt, func(a string) bool { return a == alias })
		if len(alt) == 0 {
			delete(c, "alt_aliases")
		} else {
			c["alt_aliases"], _ = json.Marshal(alt)
		}
		changed = true
	}
	if !changed {
		return nil, false
	}
	out, err := json.Marshal(c)
	if err != nil {
		return nil, false
	}
	return out, true
}

// roomAliases is GET /rooms/{roomId}/aliases.
func (s *Server) roomAliases(r *http.Request, dev *userapi.Device) (any, error) {
	roomID := mux.Vars(r)["roomId"]
	if err := s.canReadState(r, dev, roomID); err != nil {
		return nil, err
	}
	aliases, err := s.rooms.RoomAliases(r.Context(), roomID)
	if err != nil {
		return nil, roomError(err)
	}
	return map[string]any{"aliases": aliases}, nil
}

// getVisibility is GET /directory/list/room/{roomId}.
func (s *Server) getVisibility(r *http.Request) (any, error) {
	roomID := mux.Vars(r)["roomId"]
	if err := validRoomID(roomID); err != nil {
		return nil, err
	}
	vis, err := s.rooms.Visibility(r.Context(), roomID)
	if err != nil {
		return nil, roomError(err)
	}
	return map[string]string{"visibility": vis}, nil
}

// putVisibility is PUT /directory/list/room/{roomId}: room members who may
// change the room's state may publish it.
func (s *Server) putVisibility(r *http.Request, dev *userapi.Device) (any, error) {
	roomID := mux.Vars(r)["roomId"]
	if err := validRoomID(roomID); err != nil {
		return nil, err
	}
	var body struct {
		Visibility string `json:"visibility"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	if body.Visibility != "public" && body.Visibility != "private" {
		return nil, mxhttp.InvalidParam("visibility must be public or private")
	}
	m, err := s.rooms.Membership(r.Context(), roomID, dev.UserID)
	if err != nil {
		return nil, roomError(err)
	}
	if m != spec.Join && !dev.IsAdmin {
		return nil, mxhttp.Forbidden("You are not joined to this room")
	}
	if err := s.rooms.SetVisibility(r.Context(), roomID, body.Visibility); err != nil {
		return nil, roomError(err)
	}
	return struct{}{}, nil
}

type publicRoomsQuery struct {
	Limit  int
	Since  string
	Filter string
}

// publicRooms is GET and POST /publicRooms.
func (s *Server) publicRooms(r *http.Request) (any, error) {
	if !s.cfg.RoomDirectory.AllowPublicRoomsWithoutAuth || userapi.AccessToken(r) != "" {
		if _, err := userapi.Authenticate(s.users, r); err != nil {
			return nil, err
		}
	}
	q := publicRoomsQuery{}
	if r.Method == http.MethodPost {
		var body struct {
			Limit  int    `json:"limit"`
			Since  string `json:"since"`
			Server string `json:"server"`
			Filter struct {
				GenericSearchTerm string `json:"generic_search_term"`
			} `json:"filter"`
		}
		if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
			return nil, err
		}
		q = publicRoomsQuery{Limit: body.Limit, Since: body.Since, Filter: body.Filter.GenericSearchTerm}
	} else {
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, mxhttp.InvalidParam("limit must be a non-negative integer")
			}
			q.Limit = n
		}
		q.Since = r.URL.Query().Get("since")
	}
	if server := r.URL.Query().Get("server"); server != "" && !s.isLocalServer(spec.ServerName(server)) {
		if s.fed == nil {
			return nil, mxhttp.NotFound("Remote room directories are not available")
		}
		page, err := s.fed.PublicRooms(r.Context(), spec.ServerName(server), q.Limit, q.Since, q.Filter)
		if err != nil {
			return nil, federationError(err)
		}
		return page, nil
	}
	rooms, err := s.rooms.PublicRooms(r.Context())
	if err != nil {
		return nil, err
	}
	page, err := roomserver.PagePublicRooms(rooms, q.Limit, q.Since, q.Filter)
	if err != nil {
		return nil, mxhttp.InvalidParam(err.Error())
	}
	return page, nil
}
