package clientapi

import (
	"net/http"
	"sort"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
)

const maxDirectoryResults = 50

// maxDirectoryCandidates bounds the users one search looks at, on each
// side (our accounts, other servers' members).
const maxDirectoryCandidates = 500

type directoryUser struct {
	UserID      string `json:"user_id"`
	DisplayName string `json:"display_name,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// searchUserDirectory is POST /user_directory/search: users who share a
// room with the searcher or sit in a public room, matched on user id and
// display name: the global one of our users, the room one of other
// servers' users.
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
	domain := dev.UserID.Domain()
	byUser := map[string]directoryUser{}
	// Our users are shown and found by their global profile, never by a
	// per-room one (decision 0017): the accounts matching the term, of
	// whom those the searcher shares a room with or finds in an open room
	// (or all, with search_all_users).
	local, err := s.users.SearchProfiles(ctx, domain, term, maxDirectoryCandidates)
	if err != nil {
		return nil, err
	}
	visible := map[string]bool{}
	if s.cfg.UserDirectory.SearchAllUsers && !dev.IsGuest {
		for _, e := range local {
			visible[e.UserID] = e.UserID != dev.UserID.String()
		}
	} else if len(local) > 0 {
		ids := make([]string, len(local))
		for i, e := range local {
			ids[i] = e.UserID
		}
		seen, err := s.rooms.SearchMembers(ctx, roomserver.SearchMembersRequest{Searcher: dev.UserID, Users: ids})
		if err != nil {
			return nil, err
		}
		for _, m := range seen.Results {
			visible[m.UserID] = true
		}
	}
	for _, e := range local {
		if visible[e.UserID] {
			byUser[e.UserID] = directoryUser{UserID: e.UserID, DisplayName: e.DisplayName, AvatarURL: e.AvatarURL}
		}
	}
	// Other servers' users as their member events show them: we hold no
	// global profile of theirs.
	found, err := s.rooms.SearchMembers(ctx, roomserver.SearchMembersRequest{Searcher: dev.UserID, Term: term, Limit: maxDirectoryCandidates})
	if err != nil {
		return nil, err
	}
	for _, m := range found.Results {
		if u, err := spec.NewUserID(m.UserID, true); err == nil && u.Domain() == domain {
			continue
		}
		byUser[m.UserID] = directoryUser{UserID: m.UserID, DisplayName: m.DisplayName, AvatarURL: m.AvatarURL}
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
