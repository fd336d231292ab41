package clientapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/federationapi"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
)

// Rooms and aliases of other servers: the client API asks the federation
// API, which acts for the user towards those servers.

// resolveAlias resolves a local alias here and another server's through
// federation; it returns the room and servers that can let someone in.
func (s *Server) resolveAlias(ctx context.Context, alias string) (string, []spec.ServerName, error) {
	_, server, _ := strings.Cut(alias, ":")
	name := spec.ServerName(server)
	if s.isLocalServer(name) || s.fed == nil {
		id, err := s.rooms.ResolveAlias(ctx, alias)
		if err != nil {
			return "", nil, roomError(err)
		}
		servers, _ := s.rooms.ServersInRoom(ctx, id)
		return id, servers, nil
	}
	res, err := s.fed.QueryDirectory(ctx, alias)
	if err != nil {
		return "", nil, federationError(err)
	}
	return res.RoomID, res.Servers, nil
}

// needsRemoteJoin tells whether a join must go through another server:
// no local user is in the room, so we cannot build the join ourselves.
func (s *Server) needsRemoteJoin(ctx context.Context, roomID string) bool {
	if s.fed == nil {
		return false
	}
	servers, err := s.rooms.ServersInRoom(ctx, roomID)
	if err != nil {
		return errors.Is(err, roomserver.ErrRoomNotFound)
	}
	for _, name := range servers {
		if s.isLocalServer(name) {
			return false
		}
	}
	return true
}

// joinServers are the servers to try a remote join through, best first:
// those the client named, those the alias gave, the server that invited
// the user, and the server in the room id.
func (s *Server) joinServers(ctx context.Context, r *http.Request, roomID string, user spec.UserID, fromAlias []spec.ServerName) []spec.ServerName {
	var out []spec.ServerName
	seen := map[spec.ServerName]bool{}
	add := func(name spec.ServerName) {
		if name != "" && !seen[name] && !s.isLocalServer(name) {
			seen[name] = true
			out = append(out, name)
		}
	}
	q := r.URL.Query()
	for _, v := range append(q["via"], q["server_name"]...) {
		add(spec.ServerName(v))
	}
	for _, name := range fromAlias {
		add(name)
	}
	if inviter := s.inviterServer(ctx, roomID, user); inviter != "" {
		add(inviter)
	}
	if _, server, ok := strings.Cut(roomID, ":"); ok {
		add(spec.ServerName(server))
	}
	return out
}

// inviterServer is the server of whoever invited user to the room, if the
// user holds an invite.
func (s *Server) inviterServer(ctx context.Context, roomID string, user spec.UserID) spec.ServerName {
	if m, err := s.rooms.Membership(ctx, roomID, user); err != nil || m != spec.Invite {
		return ""
	}
	ev, err := s.rooms.StateEvent(ctx, roomID, spec.MRoomMember, user.String())
	if err != nil {
		return ""
	}
	sender := gjson.GetBytes(ev.Client, "sender").String()
	if u, err := spec.NewUserID(sender, true); err == nil {
		return u.Domain()
	}
	return ""
}

// federationError is what a client hears when another server could not
// help.
func federationError(err error) error {
	switch {
	case errors.Is(err, federationapi.ErrNotAllowed):
		return mxhttp.Forbidden("Federation with this server is not allowed")
	case errors.Is(err, federationapi.ErrNotFound):
		return mxhttp.NotFound("Not found on the remote server")
	case errors.Is(err, federationapi.ErrNoServer):
		return mxhttp.NotFound("No server in the room could be reached: " + err.Error())
	}
	return roomError(err)
}
