package federationapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
)

// Space hierarchies across servers. Serving: a room and its direct
// children as the asking server may see them (joinable, world-readable,
// or with its users in it); the asking server narrows them down for its
// user. Asking: the client API's walk of a space asks, for a room no
// local user is in, the servers its parent names (the child's via list).

// RemoteHierarchy is the federation /hierarchy answer, as the spec shapes
// it; the chunks stay JSON, so that fields we do not know pass through.
type RemoteHierarchy struct {
	Room                 json.RawMessage   `json:"room"`
	Children             []json.RawMessage `json:"children"`
	InaccessibleChildren []string          `json:"inaccessible_children"`
}

// RemoteHierarchyRequest asks other servers about one room of a space
// tree for a local user.
type RemoteHierarchyRequest struct {
	Requester spec.UserID
	RoomID    string
	// Servers are those to ask, best first.
	Servers       []spec.ServerName
	SuggestedOnly bool
}

// hierarchy is GET /_matrix/federation/v1/hierarchy/{roomId}.
func (s *Server) hierarchy(r *http.Request, origin spec.ServerName, _ []byte) (any, error) {
	ctx := r.Context()
	roomID := mux.Vars(r)["roomId"]
	suggested := false
	if v := r.URL.Query().Get("suggested_only"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, mxhttp.InvalidParam("suggested_only must be true or false")
		}
		suggested = b
	}
	if err := s.checkACL(ctx, roomID, origin); err != nil {
		return nil, err
	}
	res, err := s.rooms.ServerHierarchy(ctx, roomserver.ServerHierarchyRequest{Server: origin, RoomID: roomID, SuggestedOnly: suggested})
	if errors.Is(err, roomserver.ErrRoomNotFound) {
		// Unknown and hidden rooms look the same.
		return nil, mxhttp.NotFound("Room does not exist")
	}
	if err != nil {
		return nil, wireError(err)
	}
	out := RemoteHierarchy{Room: res.Room, Children: []json.RawMessage{}, InaccessibleChildren: []string{}}
	for _, c := range res.Children {
		if c.Chunk == nil || s.checkACL(ctx, c.RoomID, origin) != nil {
			out.InaccessibleChildren = append(out.InaccessibleChildren, c.RoomID)
			continue
		}
		out.Children = append(out.Children, c.Chunk)
	}
	return out, nil
}

// remoteHierarchyTTL is how long another server's answer about a room's
// hierarchy is used again: a client pages through a space with several
// requests, each walking the same rooms, and other users browse the same
// spaces. Children added meanwhile show up after it.
const remoteHierarchyTTL = 5 * time.Minute

// remoteHierarchyCacheSize bounds the answers kept.
const remoteHierarchyCacheSize = 1000

type hierarchyKey struct {
	origin    spec.ServerName
	roomID    string
	suggested bool
}

type cachedHierarchy struct {
	res *RemoteHierarchy
	at  time.Time
}

// RemoteHierarchy asks req.Servers in turn for the room's hierarchy; the
// first good answer counts, and is used again for remoteHierarchyTTL (the
// answer depends on the asking server, not the user). ErrNotFound: the
// servers asked do not know the room or will not show it to us.
func (s *Server) RemoteHierarchy(ctx context.Context, req RemoteHierarchyRequest) (*RemoteHierarchy, error) {
	origin := s.cfg.ServerName
	if s.isLocal(req.Requester.Domain()) {
		origin = req.Requester.Domain()
	}
	key := hierarchyKey{origin, req.RoomID, req.SuggestedOnly}
	if c, ok := s.hierarchies.Get(key); ok && time.Since(c.at) < remoteHierarchyTTL {
		return c.res.clone(), nil
	}
	res, err := s.fetchRemoteHierarchy(ctx, origin, req)
	if err != nil {
		return nil, err
	}
	s.hierarchies.Add(key, cachedHierarchy{res: res.clone(), at: time.Now()})
	return res, nil
}

// clone copies the answer's lists, so that a caller changing them leaves
// the cached answer alone (the JSON itself is never changed).
func (h *RemoteHierarchy) clone() *RemoteHierarchy {
	c := *h
	c.Children = slices.Clone(h.Children)
	c.InaccessibleChildren = slices.Clone(h.InaccessibleChildren)
	return &c
}

// fetchRemoteHierarchy asks the servers in turn.
func (s *Server) fetchRemoteHierarchy(ctx context.Context, origin spec.ServerName, req RemoteHierarchyRequest) (*RemoteHierarchy, error) {
	path := "/_matrix/federation/v1/hierarchy/" + url.PathEscape(req.RoomID) + "?suggested_only=" + strconv.FormatBool(req.SuggestedOnly)
	failure := ErrNotAllowed
	for _, server := range req.Servers {
		if s.isLocal(server) || !s.policy.Allowed(server) {
			continue
		}
		var res RemoteHierarchy
		err := s.signedGet(ctx, origin, server, path, &res)
		if err != nil {
			slog.Info("federation: hierarchy not answered", "room_id", req.RoomID, "server", server, "err", err)
			if isHTTPStatus(err, http.StatusNotFound) || isHTTPStatus(err, http.StatusForbidden) {
				failure = ErrNotFound
			} else if !errors.Is(failure, ErrNotFound) {
				failure = ErrNoServer
			}
			continue
		}
		if gjson.GetBytes(res.Room, "room_id").String() != req.RoomID {
			slog.Info("federation: hierarchy answer about another room", "room_id", req.RoomID, "server", server)
			failure = ErrNoServer
			continue
		}
		res.Children = wellFormedChunks(res.Children)
		return &res, nil
	}
	return nil, fmt.Errorf("%w: hierarchy of %s", failure, req.RoomID)
}

// wellFormedChunks keeps the child chunks that name a room.
func wellFormedChunks(chunks []json.RawMessage) []json.RawMessage {
	out := chunks[:0]
	for _, c := range chunks {
		if id := gjson.GetBytes(c, "room_id"); id.Type == gjson.String && id.Str != "" {
			out = append(out, c)
		}
	}
	return out
}

// signedGet is a GET of another server's federation API, signed as the
// local server origin.
func (s *Server) signedGet(ctx context.Context, origin, dest spec.ServerName, path string, out any) error {
	key, ok := s.keyFor(origin)
	if !ok {
		return fmt.Errorf("no signing key for %s", origin)
	}
	req := fclient.NewFederationRequest(http.MethodGet, origin, dest, path)
	if err := req.Sign(key.ServerName, key.ID, key.Private); err != nil {
		return err
	}
	httpReq, err := req.HTTPRequest()
	if err != nil {
		return err
	}
	return s.client.DoRequestAndParseResponse(ctx, httpReq, out)
}
