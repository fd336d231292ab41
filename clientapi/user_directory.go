package clientapi

import (
	"net/http"
	"sort"
	"strings"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
)

const maxDirectoryResults = 50

type directoryUser struct {
	UserID      string `json:"user_id"`
	DisplayName string `json:"display_name,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// searchUserDirectory is POST /user_directory/search: users who share a
// room with the searcher or sit in a public room, matched on user id and
// display name.
func (s *Server) searchUserDirectory(r *http.Request, dev *userapi.Device) (any, error) {
	var body struct {
		SearchTerm *string `json:"search_term"`
		Limit      int     `json:"limit"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	if body.SearchTerm == nil {
		return nil, mxhttp.BadJSON("search_term is required")
	}
	limit := body.Limit
	if limit <= 0 || limit > maxDirectoryResults {
		limit = 10
		if body.Limit > maxDirectoryResults {
			limit = maxDirectoryResults
		}
	}
	term := strings.ToLower(strings.TrimSpace(*body.SearchTerm))
	ctx := r.Context()
	shared, err := s.rooms.JoinedRooms(ctx, dev.UserID)
	if err != nil {
		return nil, err
	}
	open, err := s.rooms.OpenRooms(ctx)
	if err != nil {
		return nil, err
	}
	// Members of open rooms are visible to all; members of other rooms
	// only to those who share the room, which never makes the searcher
	// their own match.
	found := map[string]roomserver.MemberProfile{}
	collect := func(rooms []string, includeSelf bool) {
		for _, roomID := range rooms {
			members, err := s.rooms.JoinedMembers(ctx, roomID)
			if err != nil {
				continue
			}
			for u, p := range members {
				if _, seen := found[u]; seen || (!includeSelf && u == dev.UserID.String()) {
					continue
				}
				if strings.Contains(strings.ToLower(u), term) || strings.Contains(strings.ToLower(p.DisplayName), term) {
					found[u] = p
				}
			}
		}
	}
	collect(open, true)
	collect(shared, false)
	results := make([]directoryUser, 0, len(found))
	for u, p := range found {
		results = append(results, directoryUser{UserID: u, DisplayName: p.DisplayName, AvatarURL: p.AvatarURL})
	}
	sort.Slice(results, func(i, j int) bool { return results[i].UserID < results[j].UserID })
	limited := len(results) > limit
	if limited {
		results = results[:limit]
	}
	return map[string]any{"results": results, "limited": limited}, nil
}
