package claimtemplate

import (
	"errors"
	"testing"
)

func TestExecute(t *testing.T) {
	claims := map[string]any{
		"preferred_username": "Erika.Mustermann",
		"email":              "Erika@Amt.example",
		"given_name":         "erika",
		"family_name":        "MUSTERMANN",
		"employee_number":    float64(4711),
		"address":            map[string]any{"locality": "Bonn"},
	}
	tests := []struct {
		name, tmpl, want string
	}{
		{"plain claim", "{{ user.preferred_username }}", "Erika.Mustermann"},
		{"lower", "{{ user.preferred_username | lower }}", "erika.mustermann"},
		{"no spaces", "{{user.preferred_username|lower}}", "erika.mustermann"},
		{"filter chain", "{{ user.email | localpart_from_email | lower }}", "erika"},
		{"literal around", "staff_{{ user.employee_number }}", "staff_4711"},
		{"two claims", "{{ user.given_name | capitalize }} {{ user.family_name | capitalize }}", "Erika Mustermann"},
		{"title", "{{ user.family_name | title }}", "Mustermann"},
		{"nested claim", "{{ user.address.locality | upper }}", "BONN"},
		{"missing claim is empty", "{{ user.nickname }}", ""},
		{"no substitution", "fixed", "fixed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := Parse(tc.tmpl)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.tmpl, err)
			}
			if got := tmpl.Execute(claims); got != tc.want {
				t.Fatalf("Execute(%q) = %q, want %q", tc.tmpl, got, tc.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, src := range []string{
		"{% if user.x %}a{% endif %}",
		"{# comment #}{{ user.x }}",
		"{{ user.x | replace('a', 'b') }}",
		"{{ user.x | default }}",
		"{{ other.x }}",
		"{{ user }}",
		"{{ user.x ",
		"user.x }}",
		"{{ user['x'] }}",
		"{{ user.x ~ 'a' }}",
	} {
		if _, err := Parse(src); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Parse(%q) = %v, want ErrUnsupported", src, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("{{ user.preferred_username | lower }}")
	f.Add("a{{user.b}}c{{ user.d|trim }}")
	f.Fuzz(func(t *testing.T, src string) {
		tmpl, err := Parse(src)
		if err != nil {
			return
		}
		_ = tmpl.Execute(map[string]any{"b": "x", "d": map[string]any{"e": 1.5}})
	})
}
