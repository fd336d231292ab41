package mxhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeJSONErrors(t *testing.T) {
	type body struct {
		Name string `json:"name"`
	}
	tests := []struct {
		name string
		in   string
		code string
	}{
		{"valid", `{"name":"x"}`, ""},
		{"empty body", ``, "M_NOT_JSON"},
		{"only whitespace", " \n\t", "M_NOT_JSON"},
		{"not json", `{name:`, "M_NOT_JSON"},
		{"invalid utf-8", "{\"name\":\"\xff\"}", "M_NOT_JSON"},
		{"array", `[1,2]`, "M_BAD_JSON"},
		{"empty array", `[]`, "M_BAD_JSON"},
		{"string", `"x"`, "M_BAD_JSON"},
		{"number", `1`, "M_BAD_JSON"},
		{"null", `null`, "M_BAD_JSON"},
		{"true", `true`, "M_BAD_JSON"},
		{"wrong type", `{"name":5}`, "M_BAD_JSON"},
		{"too large", `{"name":"` + strings.Repeat("a", 100) + `"}`, "M_TOO_LARGE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.in))
			var b body
			err := DecodeJSON(r, 64, &b)
			var mx *Error
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.code != "" && (!errors.As(err, &mx) || mx.Code != tc.code):
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
		})
	}
}

func TestHandlerRecoversFromPanic(t *testing.T) {
	h := Handler(func(*http.Request) (any, error) { panic("boom") })
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "M_UNKNOWN") {
		t.Fatalf("got %d %s", w.Code, w.Body.String())
	}
}

func TestEmptyBodyIsObject(t *testing.T) {
	tests := []struct {
		name string
		body io.Reader
		want string
	}{
		{"no body", nil, `{}`},
		{"empty body", strings.NewReader(""), `{}`},
		{"empty body of unknown length", io.MultiReader(strings.NewReader("")), `{}`},
		{"a body", strings.NewReader(`{"a":1}`), `{"a":1}`},
		{"a body of unknown length", io.MultiReader(strings.NewReader(`{"a":`), strings.NewReader(`1}`)), `{"a":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", tc.body)
			if tc.body != nil {
				if _, known := tc.body.(*strings.Reader); !known {
					r.ContentLength = -1
				}
			}
			var got []byte
			EmptyBodyIsObject(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				var err error
				if got, err = ReadBody(r, 64); err != nil {
					t.Fatal(err)
				}
			})).ServeHTTP(httptest.NewRecorder(), r)
			if string(got) != tc.want {
				t.Fatalf("body %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzUnmarshal: whatever the body, the answer is nil or a Matrix 400
// with the right code: M_NOT_JSON for an empty body or one that is not
// JSON, M_BAD_JSON for JSON that is not an object or does not fit.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `[`, `null`, `[]`, `"x"`, `1`, ``, ` `, `{"a":{"b":[1,2,{"c":"\u0000"}]}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v map[string]any
		err := Unmarshal([]byte(s), &v)
		trimmed := bytes.TrimSpace([]byte(s))
		want := ""
		switch {
		case len(trimmed) == 0 || !json.Valid(trimmed) || !utf8.Valid(trimmed):
			want = "M_NOT_JSON"
		case trimmed[0] != '{':
			want = "M_BAD_JSON"
		}
		var mx *Error
		switch {
		case want == "" && err != nil && (!errors.As(err, &mx) || mx.Code != "M_BAD_JSON" || mx.Status != http.StatusBadRequest):
			t.Fatalf("Unmarshal(%q) gave %v, want nil or M_BAD_JSON", s, err)
		case want != "" && (!errors.As(err, &mx) || mx.Code != want || mx.Status != http.StatusBadRequest):
			t.Fatalf("Unmarshal(%q) gave %v, want %s", s, err, want)
		}
	})
}
