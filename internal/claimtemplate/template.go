package claimtemplate

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Filters are the filters a template may use, as Jinja names them
// (localpart_from_email is Synapse's own).
var Filters = map[string]func(string) string{
	"lower":      strings.ToLower,
	"upper":      strings.ToUpper,
	"trim":       strings.TrimSpace,
	"capitalize": capitalize,
	"title":      title,
	// localpart_from_email is what comes before the last "@".
	"localpart_from_email": func(s string) string {
		if i := strings.LastIndexByte(s, '@'); i >= 0 {
			return s[:i]
		}
		return s
	},
}

// ErrUnsupported is a template that uses more of Jinja than this package
// implements.
var ErrUnsupported = errors.New("unsupported template syntax")

// Template is a parsed template: literal text and substitutions.
type Template struct {
	parts []part
}

type part struct {
	literal string
	// path is the claim's name split at dots; nil for a literal.
	path    []string
	filters []string
}

// Parse reads a template such as "{{ user.preferred_username | lower }}".
func Parse(src string) (*Template, error) {
	var t Template
	rest := src
	for rest != "" {
		if strings.Contains(rest, "{%") {
			return nil, fmt.Errorf("%w: statements ({%% ... %%}) are not supported", ErrUnsupported)
		}
		if strings.Contains(rest, "{#") {
			return nil, fmt.Errorf("%w: comments ({# ... #}) are not supported", ErrUnsupported)
		}
		open := strings.Index(rest, "{{")
		if open < 0 {
			if strings.Contains(rest, "}}") {
				return nil, fmt.Errorf("%w: \"}}\" without \"{{\"", ErrUnsupported)
			}
			t.parts = append(t.parts, part{literal: rest})
			break
		}
		if open > 0 {
			if strings.Contains(rest[:open], "}}") {
				return nil, fmt.Errorf("%w: \"}}\" without \"{{\"", ErrUnsupported)
			}
			t.parts = append(t.parts, part{literal: rest[:open]})
		}
		end := strings.Index(rest[open:], "}}")
		if end < 0 {
			return nil, fmt.Errorf("%w: \"{{\" without \"}}\"", ErrUnsupported)
		}
		p, err := parseExpr(strings.TrimSpace(rest[open+2 : open+end]))
		if err != nil {
			return nil, err
		}
		t.parts = append(t.parts, p)
		rest = rest[open+end+2:]
	}
	return &t, nil
}

// parseExpr reads "user.a.b | f | g".
func parseExpr(expr string) (part, error) {
	fields := strings.Split(expr, "|")
	ref := strings.TrimSpace(fields[0])
	path := strings.Split(ref, ".")
	if len(path) < 2 || path[0] != "user" {
		return part{}, fmt.Errorf("%w: %q: only user.<claim> can be substituted", ErrUnsupported, ref)
	}
	for _, name := range path[1:] {
		if !isIdentifier(name) {
			return part{}, fmt.Errorf("%w: %q is not a claim name", ErrUnsupported, ref)
		}
	}
	p := part{path: path[1:]}
	for _, f := range fields[1:] {
		name := strings.TrimSpace(f)
		if _, ok := Filters[name]; !ok {
			return part{}, fmt.Errorf("%w: filter %q (supported: capitalize, localpart_from_email, lower, title, trim, upper)", ErrUnsupported, name)
		}
		p.filters = append(p.filters, name)
	}
	return p, nil
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || unicode.IsLetter(c) || (i > 0 && unicode.IsDigit(c))) {
			return false
		}
	}
	return true
}

// Execute renders the template with claims as "user". A claim that is
// missing renders as "", as Jinja's undefined does.
func (t *Template) Execute(claims map[string]any) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.path == nil {
			b.WriteString(p.literal)
			continue
		}
		s := render(lookup(claims, p.path))
		for _, f := range p.filters {
			s = Filters[f](s)
		}
		b.WriteString(s)
	}
	return b.String()
}

func lookup(claims map[string]any, path []string) any {
	var v any = claims
	for _, name := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[name]
	}
	return v
}

// render writes a claim's value as text. Numbers from JSON print as
// integers when they are whole (a numeric subject claim).
func render(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "True"
		}
		return "False"
	default:
		raw, _ := json.Marshal(x)
		return string(raw)
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + strings.ToLower(s[n:])
}

func title(s string) string {
	var b strings.Builder
	start := true
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start {
				b.WriteRune(unicode.ToUpper(r))
			} else {
				b.WriteRune(unicode.ToLower(r))
			}
			start = false
			continue
		}
		b.WriteRune(r)
		start = true
	}
	return b.String()
}
