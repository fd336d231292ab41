package storage

import (
	"context"
	"fmt"
	"testing"
)

func TestSearchProfiles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		create := func(userID, name string, guest bool) {
			t.Helper()
			if err := s.CreateAccount(ctx, Account{UserID: userID, IsGuest: guest, CreatedTS: 1}, name, nil); err != nil {
				t.Fatal(err)
			}
		}
		create("@juergen:bund.example", "Jürgen Ärger", false)
		create("@anna_m:bund.example", "Anna", false)
		create("@annam:bund.example", "Anna M", false)
		create("@anna:land.example", "Anna", false) // another tenant
		create("@gast:bund.example", "Anna Gast", true)
		create("@alt:bund.example", "Anna Alt", false)
		if _, err := s.Deactivate(ctx, "@alt:bund.example"); err != nil {
			t.Fatal(err)
		}
		renamed := "Anna Neu"
		if _, err := s.SetProfile(ctx, "@juergen:bund.example", &renamed, nil); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			server, term string
			limit        int
			want         string
		}{
			{"bund.example", "anna", 10, "[@anna_m:bund.example @annam:bund.example @juergen:bund.example]"},
			{"bund.example", "anna", 1, "[@anna_m:bund.example]"},
			{"bund.example", "anna_", 10, "[@anna_m:bund.example]"},
			{"bund.example", "ärger", 10, "[]"}, // renamed
			{"bund.example", "anna neu", 10, "[@juergen:bund.example]"},
			{"land.example", "anna", 10, "[@anna:land.example]"},
			{"bund.example", "%", 10, "[]"},
		}
		for _, tc := range tests {
			got, err := s.SearchProfiles(ctx, tc.server, tc.term, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			ids := []string{}
			for _, e := range got {
				ids = append(ids, e.UserID)
			}
			if fmt.Sprint(ids) != tc.want {
				t.Errorf("search %q on %s: %v, want %s", tc.term, tc.server, ids, tc.want)
			}
		}
		// Non-ASCII case folding works on both databases.
		umlaut := "Jürgen Ärger"
		if _, err := s.SetProfile(ctx, "@juergen:bund.example", &umlaut, nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.SearchProfiles(ctx, "bund.example", "ärger", 10); len(got) != 1 || got[0].DisplayName != umlaut {
			t.Errorf("ärger finds %v", got)
		}
	})
}
