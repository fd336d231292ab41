package federationapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
)

// The room directory over federation: other servers' users browse ours
// when room_directory.allow_public_rooms_over_federation is on (off by
// default: a directory lists rooms to strangers), and ours browse theirs.

// publicRooms is GET and POST /_matrix/federation/v1/publicRooms.
func (s *Server) publicRooms(r *http.Request, _ spec.ServerName, body []byte) (any, error) {
	if !s.cfg.RoomDirectory.AllowPublicRoomsOverFederation {
		return nil, mxhttp.Forbidden("This server does not publish its room directory over federation")
	}
	var limit int
	var since, term string
	if r.Method == http.MethodPost {
		var req struct {
			Limit  int    `json:"limit"`
			Since  string `json:"since"`
			Filter struct {
				GenericSearchTerm string `json:"generic_search_term"`
			} `json:"filter"`
		}
		if err := mxhttp.Unmarshal(body, &req); err != nil {
			return nil, err
		}
		limit, since, term = req.Limit, req.Since, req.Filter.GenericSearchTerm
	} else {
		q := r.URL.Query()
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, mxhttp.InvalidParam("limit must be a non-negative integer")
			}
			limit = n
		}
		since = q.Get("since")
	}
	rooms, err := s.rooms.PublicRooms(r.Context())
	if err != nil {
		return nil, err
	}
	page, err := roomserver.PagePublicRooms(rooms, limit, since, term)
	if err != nil {
		return nil, mxhttp.InvalidParam(err.Error())
	}
	return page, nil
}

// PublicRooms reads a page of another server's room directory.
func (s *Server) PublicRooms(ctx context.Context, server spec.ServerName, limit int, since, term string) (*roomserver.PublicRoomsPage, error) {
	if !s.policy.Allowed(server) {
		return nil, ErrNotAllowed
	}
	res, err := s.client.GetPublicRoomsFiltered(ctx, s.cfg.ServerName, server, limit, since, term, false, "")
	if err != nil {
		if isHTTPStatus(err, http.StatusForbidden) {
			return nil, fmt.Errorf("%w: %s does not publish its directory", ErrNotAllowed, server)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrNoServer, server, err)
	}
	page := &roomserver.PublicRoomsPage{NextBatch: res.NextBatch, PrevBatch: res.PrevBatch, Total: res.TotalRoomCountEstimate, Chunk: []roomserver.PublicRoom{}}
	for _, c := range res.Chunk {
		page.Chunk = append(page.Chunk, roomserver.PublicRoom{
			RoomID: c.RoomID, Name: c.Name, Topic: c.Topic, CanonicalAlias: c.CanonicalAlias, AvatarURL: c.AvatarURL,
			NumJoinedMembers: c.JoinedMembersCount, WorldReadable: c.WorldReadable, GuestCanJoin: c.GuestCanJoin,
			JoinRule: c.JoinRule, RoomType: c.RoomType,
		})
	}
	return page, nil
}
