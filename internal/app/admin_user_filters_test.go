package app_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
)

// Every filter of GET /v2/users, alone and together, on accounts of
// every kind.
func TestAdminAPIUserListFilters(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	admin := registerAdmin(t, srv, "filteradmin")
	a, b, c := srv.Register(t, "alice").UserID.String(), srv.Register(t, "bob").UserID.String(), srv.Register(t, "carol").UserID.String()
	guestCli, _ := mautrix.NewClient(srv.URL, "", "")
	guest, _, err := guestCli.RegisterGuest(ctx, &mautrix.ReqRegister{})
	if err != nil {
		t.Fatal(err)
	}
	guestID := guest.UserID.String()
	if status, body := adminCall(t, admin, "PUT", "/v2/users/"+b, map[string]any{"locked": true, "displayname": "Robert"}); status != 200 {
		t.Fatalf("lock: %d %v", status, body)
	}
	if status, body := adminCall(t, admin, "POST", "/v1/deactivate/"+c, map[string]any{}); status != 200 {
		t.Fatalf("deactivate: %d %v", status, body)
	}
	names := func(query string) string {
		t.Helper()
		status, body := adminCall(t, admin, "GET", "/v2/users"+query, nil)
		if status != 200 {
			t.Fatalf("%s: %d %v", query, status, body)
		}
		users, _ := body["users"].([]any)
		var out []string
		for _, u := range users {
			out = append(out, u.(map[string]any)["name"].(string))
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	ad := admin.UserID.String()
	set := func(ids ...string) string {
		sort.Strings(ids)
		return strings.Join(ids, " ")
	}
	for _, tc := range []struct{ query, want string }{
		{"", set(a, ad, guestID)},
		{"?guests=false", set(a, ad)},
		{"?admins=true", set(ad)},
		{"?admins=false&guests=false", set(a)},
		{"?locked=true", set(a, b, ad, guestID)},
		{"?deactivated=true", set(a, c, ad, guestID)},
		{"?deactivated=true&locked=true&guests=false", set(a, b, c, ad)},
		{"?user_id=" + strings.TrimPrefix(strings.Split(a, ":")[0], "@") + "&locked=true&deactivated=true", set(a)},
		{"?name=robert&locked=true", set(b)},
		{"?name=ROL&deactivated=true", set(c)},
		{"?user_id=nobody", set()},
	} {
		t.Run(tc.query, func(t *testing.T) {
			if got := names(tc.query); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"?guests=maybe", "?deactivated=2", "?locked=ja"} {
		if status, body := adminCall(t, admin, "GET", "/v2/users"+bad, nil); status != 400 || body["errcode"] != "M_INVALID_PARAM" {
			t.Errorf("%s: %d %v", bad, status, body)
		}
	}
}
