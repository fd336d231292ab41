package mxhttp

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
		{"empty body is an empty object", ``, ""},
		{"not json", `{name:`, "M_NOT_JSON"},
		{"array", `[1,2]`, "M_NOT_JSON"},
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

func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `[`, `null`, `{"a":{"b":[1,2,{"c":"\u0000"}]}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v map[string]any
		err := Unmarshal([]byte(s), &v)
		var mx *Error
		if err != nil && (!errors.As(err, &mx) || (mx.Code != "M_NOT_JSON" && mx.Code != "M_BAD_JSON")) {
			t.Fatalf("Unmarshal(%q) gave %v, want a Matrix 400", s, err)
		}
	})
}
