package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestAccountData(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if pos, err := s.AccountDataPosition(ctx); err != nil || pos != 0 {
			t.Fatalf("empty position = %d, %v", pos, err)
		}
		puts := []struct {
			user, room, typ, content string
			wantPos                  int64
		}{
			{"@a:test", "", "m.direct", `{"x":1}`, 1},
			{"@a:test", "!r:test", "m.tag", `{"tags":{}}`, 2},
			{"@b:test", "", "m.direct", `{"y":1}`, 3},
			{"@a:test", "", "m.direct", `{"x":2}`, 4},
		}
		for _, p := range puts {
			pos, err := s.PutAccountData(ctx, p.user, p.room, p.typ, []byte(p.content))
			if err != nil || pos != p.wantPos {
				t.Fatalf("put %+v: pos %d, %v", p, pos, err)
			}
		}
		if got, err := s.AccountData(ctx, "@a:test", "", "m.direct"); err != nil || string(got) != `{"x":2}` {
			t.Errorf("get = %s, %v", got, err)
		}
		if _, err := s.AccountData(ctx, "@a:test", "!r:test", "m.direct"); !errors.Is(err, ErrNotFound) {
			t.Errorf("room data does not fall back to global: %v", err)
		}
		tests := []struct {
			name      string
			from, to  int64
			wantTypes []string
		}{
			{"all", 0, 4, []string{"!r:test/m.tag", "/m.direct"}},
			{"after the tag", 2, 4, []string{"/m.direct"}},
			{"up to the tag", 0, 2, []string{"!r:test/m.tag"}},
			{"nothing new", 4, 4, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				items, err := s.AccountDataSince(ctx, "@a:test", tc.from, tc.to)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, it := range items {
					got = append(got, it.RoomID+"/"+it.Type)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.wantTypes) {
					t.Errorf("got %v, want %v", got, tc.wantTypes)
				}
			})
		}
		if pos, _ := s.AccountDataPosition(ctx); pos != 4 {
			t.Errorf("position = %d", pos)
		}
	})
}

// Concurrent read-modify-write updates of one entry must all land.
func TestUpdateAccountDataConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		const n = 20
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, err := s.UpdateAccountData(ctx, "@a:test", "!r:test", "m.tag", func(old []byte) ([]byte, error) {
					m := map[string]int{}
					if old != nil {
						if err := json.Unmarshal(old, &m); err != nil {
							return nil, err
						}
					}
					m[fmt.Sprint(i)] = i
					return json.Marshal(m)
				})
				if err != nil {
					t.Error(err)
				}
			}(i)
		}
		wg.Wait()
		got, err := s.AccountData(ctx, "@a:test", "!r:test", "m.tag")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int{}
		if err := json.Unmarshal(got, &m); err != nil || len(m) != n {
			t.Errorf("entries = %d (%s), %v", len(m), got, err)
		}
		if pos, _ := s.AccountDataPosition(ctx); pos != n {
			t.Errorf("position = %d, want %d", pos, n)
		}
	})
}

func TestFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for i, f := range []string{`{"a":1}`, `{"b":2}`} {
			id, err := s.PutFilter(ctx, "@a:test", []byte(f))
			if err != nil || id != int64(i) {
				t.Fatalf("put filter %d: id %d, %v", i, id, err)
			}
		}
		if id, _ := s.PutFilter(ctx, "@b:test", []byte(`{}`)); id != 0 {
			t.Errorf("ids are per user, got %d", id)
		}
		if got, err := s.Filter(ctx, "@a:test", 1); err != nil || string(got) != `{"b":2}` {
			t.Errorf("filter = %s, %v", got, err)
		}
		if _, err := s.Filter(ctx, "@b:test", 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("other user's filter: %v", err)
		}
	})
}

func TestGlobalAccountData(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, p := range []struct{ room, typ, content string }{
			{"", "m.push_rules", `{"global":{}}`},
			{"", "m.ignored_user_list", `{"ignored_users":{}}`},
			{"!r:test", "m.invite_permission_config", `{"default_action":"block"}`},
			{"", "m.direct", `{}`},
		} {
			if _, err := s.PutAccountData(ctx, "@h:test", p.room, p.typ, []byte(p.content)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GlobalAccountData(ctx, "@h:test", []string{"m.push_rules", "m.ignored_user_list", "m.invite_permission_config"})
		if err != nil {
			t.Fatal(err)
		}
		// The room entry of the same type is not global, m.direct was not asked for.
		if len(got) != 2 || string(got["m.push_rules"]) != `{"global":{}}` || string(got["m.ignored_user_list"]) != `{"ignored_users":{}}` {
			t.Errorf("got %q", got)
		}
	})
}
