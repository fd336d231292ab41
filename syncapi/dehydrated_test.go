package syncapi

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

func TestParseDehydratedEvents(t *testing.T) {
	for _, tc := range []struct {
		body string
		pos  int64
		code string
	}{
		{"", 0, ""},
		{"{}", 0, ""},
		{`{"next_batch":"42"}`, 42, ""},
		{`{"next_batch":null}`, 0, ""},
		{`{"next_batch":"-1"}`, 0, "M_INVALID_PARAM"},
		{`{"next_batch":"s1_2"}`, 0, "M_INVALID_PARAM"},
		{`{"next_batch":42}`, 0, "M_BAD_JSON"},
		{`[`, 0, "M_NOT_JSON"},
	} {
		pos, err := parseDehydratedEvents(httptest.NewRequest("POST", "/", bytes.NewBufferString(tc.body)))
		var mx *mxhttp.Error
		code := ""
		if errors.As(err, &mx) {
			code = mx.Code
		} else if err != nil {
			code = err.Error()
		}
		if pos != tc.pos || code != tc.code {
			t.Errorf("%q: %d %q, want %d %q", tc.body, pos, code, tc.pos, tc.code)
		}
	}
}

func FuzzParseDehydratedEvents(f *testing.F) {
	for _, seed := range []string{"", "{}", `{"next_batch":"42"}`, `{"next_batch":"x"}`, "[", `{"next_batch":1e99}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pos, err := parseDehydratedEvents(httptest.NewRequest("POST", "/", bytes.NewReader(body)))
		var mx *mxhttp.Error
		if err != nil && !errors.As(err, &mx) {
			t.Fatalf("not a Matrix error: %v", err)
		}
		if pos < 0 {
			t.Fatalf("negative position %d", pos)
		}
	})
}
