package oidcrp

import (
	"errors"
	"testing"

	"github.com/rohrpost/rohrpost/config"
)

func TestCheckRequirements(t *testing.T) {
	staff := "staff"
	p, err := New(config.OIDCProvider{
		ClientID: "c",
		AttributeRequirements: []config.AttributeRequirement{
			{Attribute: "groups", Value: &staff},
			{Attribute: "department", OneOf: []string{"it", "legal"}},
		},
		UserMappingProvider: config.UserMappingProvider{Config: config.MappingConfig{LocalpartTemplate: "{{ user.preferred_username }}"}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		claims map[string]any
		ok     bool
	}{
		{"both met", map[string]any{"groups": "staff", "department": "it"}, true},
		{"list claim contains the value", map[string]any{"groups": []any{"visitors", "staff"}, "department": "legal"}, true},
		{"list claim without it", map[string]any{"groups": []any{"visitors"}, "department": "it"}, false},
		{"value not among one_of", map[string]any{"groups": "staff", "department": "sales"}, false},
		{"claim missing", map[string]any{"department": "it"}, false},
		{"number is not the string", map[string]any{"groups": "staff", "department": 1.0}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.CheckRequirements(tc.claims)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrRequirement)) {
				t.Fatalf("CheckRequirements = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestMap(t *testing.T) {
	p, err := New(config.OIDCProvider{ClientID: "c", UserMappingProvider: config.UserMappingProvider{Config: config.MappingConfig{
		LocalpartTemplate:   "{{ user.email | localpart_from_email }}",
		DisplayNameTemplate: "{{ user.given_name }} {{ user.family_name }}",
	}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Map(map[string]any{"email": " Erika.M@Amt.example", "given_name": "Erika", "family_name": "M"})
	if err != nil || m.Localpart != "erika.m" || m.DisplayName != "Erika M" || m.Email != "" {
		t.Fatalf("Map = %+v, %v", m, err)
	}
	if _, err := p.Map(map[string]any{}); !errors.Is(err, ErrMapping) {
		t.Fatalf("empty localpart: %v", err)
	}
}

func TestClaimString(t *testing.T) {
	tests := []struct {
		value any
		want  string
		ok    bool
	}{
		{"abc", "abc", true},
		{float64(4711), "4711", true},
		{1.5, "", false},
		{"", "", false},
		{nil, "", false},
		{[]any{"a"}, "", false},
	}
	for _, tc := range tests {
		got, err := claimString(map[string]any{"sub": tc.value}, "sub")
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("claimString(%v) = %q, %v", tc.value, got, err)
		}
	}
}
