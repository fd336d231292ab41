package federationapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
)

// queryDirectory is GET /_matrix/federation/v1/query/directory?room_alias=.
func (s *Server) queryDirectory(r *http.Request, _ spec.ServerName, _ []byte) (any, error) {
	ctx := r.Context()
	alias := r.URL.Query().Get("room_alias")
	_, server, ok := strings.Cut(alias, ":")
	if !strings.HasPrefix(alias, "#") || !ok {
		return nil, mxhttp.InvalidParam("room_alias is not an alias")
	}
	if !s.isLocal(spec.ServerName(server)) {
		return nil, mxhttp.NotFound("Room alias not found")
	}
	roomID, err := s.rooms.ResolveAlias(ctx, alias)
	if errors.Is(err, roomserver.ErrAliasNotFound) {
		return nil, mxhttp.NotFound("Room alias not found")
	}
	if err != nil {
		return nil, wireError(err)
	}
	servers, err := s.rooms.ServersInRoom(ctx, roomID)
	if err != nil {
		return nil, wireError(err)
	}
	return map[string]any{"room_id": roomID, "servers": orderServers(servers, spec.ServerName(server))}, nil
}

// orderServers puts first the server most likely to let someone in.
func orderServers(servers []spec.ServerName, first spec.ServerName) []spec.ServerName {
	out := []spec.ServerName{first}
	for _, name := range servers {
		if name != first {
			out = append(out, name)
		}
	}
	return out
}

// queryProfile is GET /_matrix/federation/v1/query/profile?user_id=&field=.
func (s *Server) queryProfile(r *http.Request, _ spec.ServerName, _ []byte) (any, error) {
	q := r.URL.Query()
	user, err := spec.NewUserID(q.Get("user_id"), true)
	if err != nil {
		return nil, mxhttp.InvalidParam("user_id is not a user id")
	}
	if !s.isLocal(user.Domain()) {
		return nil, mxhttp.InvalidParam("user_id is not a user of this server")
	}
	p, err := s.users.Profile(r.Context(), *user)
	if errors.Is(err, userapi.ErrNotFound) {
		return nil, mxhttp.NotFound("Profile not found")
	}
	if err != nil {
		return nil, err
	}
	all := map[string]any{}
	for k, v := range p.Fields {
		all[k] = v
	}
	if p.DisplayName != "" {
		all["displayname"] = p.DisplayName
	}
	if p.AvatarURL != "" {
		all["avatar_url"] = p.AvatarURL
	}
	field := q.Get("field")
	if field == "" {
		return all, nil
	}
	v, ok := all[field]
	if !ok {
		return nil, mxhttp.NotFound("Profile field not found")
	}
	return map[string]any{field: v}, nil
}

// QueryDirectory resolves an alias of another server.
func (s *Server) QueryDirectory(ctx context.Context, alias string) (*DirectoryResponse, error) {
	_, server, ok := strings.Cut(alias, ":")
	if !ok {
		return nil, fmt.Errorf("%w: %s is not an alias", ErrNotFound, alias)
	}
	dest := spec.ServerName(server)
	if !s.policy.Allowed(dest) {
		return nil, ErrNotAllowed
	}
	res, err := s.client.LookupRoomAlias(ctx, s.cfg.ServerName, dest, alias)
	if err != nil {
		if isHTTPStatus(err, http.StatusNotFound) {
			return nil, fmt.Errorf("%w: alias %s", ErrNotFound, alias)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrNoServer, dest, err)
	}
	return &DirectoryResponse{RoomID: res.RoomID, Servers: res.Servers}, nil
}

// QueryProfile asks another server for a user's profile.
func (s *Server) QueryProfile(ctx context.Context, user spec.UserID, field string) (map[string]any, error) {
	if !s.policy.Allowed(user.Domain()) {
		return nil, ErrNotAllowed
	}
	var out map[string]any
	path := "/_matrix/federation/v1/query/profile?user_id=" + urlQueryEscape(user.String())
	if field != "" {
		path += "&field=" + urlQueryEscape(field)
	}
	if err := s.get(ctx, user.Domain(), path, &out); err != nil {
		if isHTTPStatus(err, http.StatusNotFound) {
			return nil, fmt.Errorf("%w: profile of %s", ErrNotFound, user.String())
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrNoServer, user.Domain(), err)
	}
	return out, nil
}
