package clientapi

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// mutualRoomsBatch is how many rooms one page of mutual rooms holds (a
// variable for the tests).
var mutualRoomsBatch = 100

// mutualRooms is GET /_matrix/client/v1/mutual_rooms (spec v1.19): the
// rooms both the caller and user_id are joined to, by room id, a page at
// a time. next_batch is the last room id of the page, so a token stays
// good for as long as the client likes; an unknown user shares no rooms.
func (s *Server) mutualRooms(r *http.Request, dev *userapi.Device) (any, error) {
	q := r.URL.Query()
	other, err := spec.NewUserID(q.Get("user_id"), true)
	if err != nil {
		return nil, mxhttp.InvalidParam("user_id must be a valid user ID")
	}
	if *other == dev.UserID {
		return nil, mxhttp.InvalidParam("user_id is your own user ID")
	}
	after := ""
	if from := q.Get("from"); from != "" {
		raw, err := base64.RawURLEncoding.DecodeString(from)
		if err != nil || !strings.HasPrefix(string(raw), "!") {
			return nil, mxhttp.InvalidParam("from is not a token from this endpoint")
		}
		after = string(raw)
	}
	mine, err := s.rooms.JoinedRooms(r.Context(), dev.UserID)
	if err != nil {
		return nil, err
	}
	theirs, err := s.rooms.JoinedRooms(r.Context(), *other)
	if err != nil {
		return nil, err
	}
	theirSet := make(map[string]bool, len(theirs))
	for _, room := range theirs {
		theirSet[room] = true
	}
	shared := make([]string, 0, min(len(mine), len(theirs)))
	for _, room := range mine {
		if theirSet[room] {
			shared = append(shared, room)
		}
	}
	slices.Sort(shared)
	start, _ := slices.BinarySearch(shared, after)
	if start < len(shared) && shared[start] == after {
		start++
	}
	page := shared[start:min(start+mutualRoomsBatch, len(shared))]
	out := map[string]any{"joined": page, "count": len(shared)}
	if start+len(page) < len(shared) {
		out["next_batch"] = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1]))
	}
	return out, nil
}
