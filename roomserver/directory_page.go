package roomserver

import (
	"errors"
	"sort"
	"strconv"
	"strings"
)

// ErrBadSince is a since token PagePublicRooms did not write.
var ErrBadSince = errors.New("invalid since token")

// PublicRoomsPage is one page of the room directory as the client and the
// federation API answer it.
type PublicRoomsPage struct {
	Chunk     []PublicRoom `json:"chunk"`
	NextBatch string       `json:"next_batch,omitempty"`
	PrevBatch string       `json:"prev_batch,omitempty"`
	Total     int          `json:"total_room_count_estimate"`
}

// PagePublicRooms filters the directory by a search term (name, topic,
// alias), puts the largest rooms first and cuts out one page. Tokens are
// offsets ("o<n>").
func PagePublicRooms(rooms []PublicRoom, limit int, since, term string) (*PublicRoomsPage, error) {
	if term = strings.ToLower(term); term != "" {
		kept := make([]PublicRoom, 0, len(rooms))
		for _, room := range rooms {
			if strings.Contains(strings.ToLower(room.Name+" "+room.Topic+" "+room.CanonicalAlias), term) {
				kept = append(kept, room)
			}
		}
		rooms = kept
	}
	sort.SliceStable(rooms, func(i, j int) bool { return rooms[i].NumJoinedMembers > rooms[j].NumJoinedMembers })
	offset := 0
	if since != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(since, "o"))
		if err != nil || n < 0 || !strings.HasPrefix(since, "o") {
			return nil, ErrBadSince
		}
		offset = min(n, len(rooms))
	}
	end := len(rooms)
	if limit > 0 {
		end = min(offset+limit, len(rooms))
	}
	page := &PublicRoomsPage{Chunk: append([]PublicRoom{}, rooms[offset:end]...), Total: len(rooms)}
	if end < len(rooms) {
		page.NextBatch = "o" + strconv.Itoa(end)
	}
	if offset > 0 {
		page.PrevBatch = "o" + strconv.Itoa(max(0, offset-max(limit, 1)))
	}
	return page, nil
}
