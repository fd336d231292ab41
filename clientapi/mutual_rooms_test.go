package clientapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/rohrpost/rohrpost/clientapi"
	"github.com/rohrpost/rohrpost/internal/apptest"
)

// mutualRooms calls GET /_matrix/client/v1/mutual_rooms.
func (c *client) mutualRooms(query url.Values) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+"/_matrix/client/v1/mutual_rooms?"+query.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// GET /mutual_rooms (spec v1.19): the rooms both users are joined to, in
// pages that together list each exactly once.
func TestMutualRooms(t *testing.T) {
	t.Cleanup(clientapi.SetMutualRoomsBatch(2)) // after the server stops
	srv := apptest.Start(t)
	alice, bob := register(t, srv, "alice"), register(t, srv, "bob")
	var want []string
	for i := 0; i < 5; i++ {
		status, body := alice.do("POST", "/createRoom", map[string]any{"preset": "public_chat"})
		if status != 200 {
			t.Fatalf("createRoom: %d %v", status, body)
		}
		room := body["room_id"].(string)
		switch i {
		case 0: // alice's alone
		case 1: // bob joined and left
			bob.do("POST", "/join/"+url.PathEscape(room), map[string]any{})
			bob.do("POST", "/rooms/"+url.PathEscape(room)+"/leave", map[string]any{})
		default:
			if status, body := bob.do("POST", "/join/"+url.PathEscape(room), map[string]any{}); status != 200 {
				t.Fatalf("join: %d %v", status, body)
			}
			want = append(want, room)
		}
	}
	slices.Sort(want)

	var got []string
	from := ""
	for pages := 0; ; pages++ {
		q := url.Values{"user_id": {bob.userID}}
		if from != "" {
			q.Set("from", from)
		}
		status, body := alice.mutualRooms(q)
		if status != 200 || body["count"] != float64(len(want)) {
			t.Fatalf("page %d: %d %v", pages, status, body)
		}
		for _, r := range body["joined"].([]any) {
			got = append(got, r.(string))
		}
		next, ok := body["next_batch"].(string)
		if !ok {
			break
		}
		if pages > len(want) {
			t.Fatal("pagination does not end")
		}
		from = next
	}
	if !slices.Equal(got, want) {
		t.Errorf("mutual rooms %v, want %v", got, want)
	}

	// An unknown user shares nothing; bad requests are 400 M_INVALID_PARAM.
	if status, body := alice.mutualRooms(url.Values{"user_id": {"@nobody:localhost"}}); status != 200 || body["count"] != float64(0) || len(body["joined"].([]any)) != 0 {
		t.Errorf("unknown user: %d %v", status, body)
	}
	for name, q := range map[string]url.Values{
		"no user":     {},
		"bad user":    {"user_id": {"bob"}},
		"own user":    {"user_id": {alice.userID}},
		"bad from":    {"user_id": {bob.userID}, "from": {"garbage!"}},
		"forged from": {"user_id": {bob.userID}, "from": {"YWJj"}},
	} {
		if status, body := alice.mutualRooms(q); status != 400 || body["errcode"] != "M_INVALID_PARAM" {
			t.Errorf("%s: %d %v", name, status, body)
		}
	}
}
