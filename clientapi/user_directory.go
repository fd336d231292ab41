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
	term := strings.TrimSpace(*body.SearchTerm)
	ctx := r.Context()
	// One more than asked tells whether the results are limited.
	found, err := s.rooms.SearchMembers(ctx, roomserver.SearchMembersRequest{Searcher: dev.UserID, Term: term, Limit: limit + 1})
	if err != nil {
		return nil, err
	}
	byUser := map[string]directoryUser{}
	for _, m := range found.Results {
		byUser[m.UserID] = directoryUser{UserID: m.UserID, DisplayName: m.DisplayName, AvatarURL: m.AvatarURL}
	}
	if s.cfg.UserDirectory.SearchAllUsers && !dev.IsGuest {
		// Room profiles, where a user has one, win over the global one.
		all, err := s.users.SearchProfiles(ctx, dev.UserID.Domain(), term, limit+1)
		if err != nil {
			return nil, err
		}
		for _, e := range all {
			if _, ok := byUser[e.UserID]; !ok && e.UserID != dev.UserID.String() {
				byUser[e.UserID] = directoryUser{UserID: e.UserID, DisplayName: e.DisplayName, AvatarURL: e.AvatarURL}
			}
		}
	}
	results := make([]directoryUser, 0, len(byUser))
	for _, u := range byUser {
		results = append(results, u)
	}
	sort.Slice(results, func(i, j int) bool { return results[i].UserID < results[j].UserID })
	limited := len(results) > limit
	if limited {
		results = results[:limit]
	}
	return map[string]any{"results": results, "limited": limited}, nil
}
