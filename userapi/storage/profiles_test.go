package storage

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSetProfile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.CreateAccount(ctx, Account{UserID: "@erin:test"}, "erin", nil); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name        string
			displayName *string
			avatarURL   *string
			want        Profile
		}{
			{"nothing", nil, nil, Profile{DisplayName: "erin"}},
			{"avatar only", nil, strp("mxc://test/a"), Profile{DisplayName: "erin", AvatarURL: "mxc://test/a"}},
			{"name only", strp("Erin"), nil, Profile{DisplayName: "Erin", AvatarURL: "mxc://test/a"}},
			{"clear both", strp(""), strp(""), Profile{}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p, err := s.SetProfile(ctx, "@erin:test", tc.displayName, tc.avatarURL)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(*p, tc.want) {
					t.Errorf("returned %+v, want %+v", *p, tc.want)
				}
				if got, _ := s.Profile(ctx, "@erin:test"); !reflect.DeepEqual(*got, tc.want) {
					t.Errorf("stored %+v, want %+v", *got, tc.want)
				}
			})
		}
		if _, err := s.SetProfile(ctx, "@nobody:test", strp("x"), nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}
		if _, err := s.Profile(ctx, "@nobody:test"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}
	})
}

func TestUpdateProfileFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.CreateAccount(ctx, Account{UserID: "@finn:test"}, "finn", nil); err != nil {
			t.Fatal(err)
		}
		set := func(key string, value json.RawMessage) func(*Profile) {
			return func(p *Profile) {
				if p.Fields == nil {
					p.Fields = map[string]json.RawMessage{}
				}
				if value == nil {
					delete(p.Fields, key)
				} else {
					p.Fields[key] = value
				}
			}
		}
		tests := []struct {
			name    string
			change  func(*Profile)
			want    map[string]json.RawMessage
			wantErr error
		}{
			{"time zone", set("m.tz", json.RawMessage(`"Europe/Berlin"`)), map[string]json.RawMessage{"m.tz": json.RawMessage(`"Europe/Berlin"`)}, nil},
			{"custom object", set("de.bund.role", json.RawMessage(`{"a":[1,2]}`)),
				map[string]json.RawMessage{"m.tz": json.RawMessage(`"Europe/Berlin"`), "de.bund.role": json.RawMessage(`{"a":[1,2]}`)}, nil},
			{"too large", set("de.bund.big", json.RawMessage(`"`+strings.Repeat("x", MaxProfileSize)+`"`)),
				map[string]json.RawMessage{"m.tz": json.RawMessage(`"Europe/Berlin"`), "de.bund.role": json.RawMessage(`{"a":[1,2]}`)}, ErrProfileTooLarge},
			{"delete", set("m.tz", nil), map[string]json.RawMessage{"de.bund.role": json.RawMessage(`{"a":[1,2]}`)}, nil},
			{"delete last", set("de.bund.role", nil), nil, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.UpdateProfile(ctx, "@finn:test", tc.change)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				got, err := s.Profile(ctx, "@finn:test")
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got.Fields, tc.want) || got.DisplayName != "finn" {
					t.Errorf("stored %+v, want fields %v", got, tc.want)
				}
			})
		}
		if _, err := s.UpdateProfile(ctx, "@nobody:test", set("m.tz", json.RawMessage(`"UTC"`))); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}
	})
}
