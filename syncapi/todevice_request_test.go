package syncapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

func TestParseSendToDevice(t *testing.T) {
	many := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"messages":{"@a:x":{`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"D%d":{}`, i)
		}
		b.WriteString(`}}}`)
		return b.String()
	}
	tests := []struct {
		name       string
		body       string
		code       string // "" for success
		recipients int
	}{
		{"one device", `{"messages":{"@a:x":{"DEV":{"body":"hi"}}}}`, "", 1},
		{"all devices and two users", `{"messages":{"@a:x":{"*":{}},"@b:y":{"D1":{},"D2":{"k":[1]}}}}`, "", 2},
		{"space around a content", `{"messages":{"@a:x":{"DEV": {"x":1} }}}`, "", 1},
		{"no messages to anyone", `{"messages":{}}`, "", 0},
		{"a user without devices", `{"messages":{"@a:x":{}}}`, "", 0},
		{"a user whose devices are null", `{"messages":{"@a:x":null}}`, "", 0},
		{"as many devices as allowed", many(maxToDeviceRecipients), "", 1},
		{"empty body", ``, "M_NOT_JSON", 0},
		{"not JSON", `messages`, "M_NOT_JSON", 0},
		{"an array", `[]`, "M_BAD_JSON", 0},
		{"invalid UTF-8", "{\"messages\":{\"@a:x\":{\"D\":{\"b\":\"\xff\"}}}}", "M_NOT_JSON", 0},
		{"messages missing", `{}`, "M_BAD_JSON", 0},
		{"messages null", `{"messages":null}`, "M_BAD_JSON", 0},
		{"messages an array", `{"messages":[]}`, "M_BAD_JSON", 0},
		{"devices an array", `{"messages":{"@a:x":[]}}`, "M_BAD_JSON", 0},
		{"content a string", `{"messages":{"@a:x":{"D":"text"}}}`, "M_BAD_JSON", 0},
		{"content null", `{"messages":{"@a:x":{"D":null}}}`, "M_BAD_JSON", 0},
		{"content an array", `{"messages":{"@a:x":{"D":[]}}}`, "M_BAD_JSON", 0},
		{"not a user id", `{"messages":{"alice":{"D":{}}}}`, "M_INVALID_PARAM", 0},
		{"a room id", `{"messages":{"!r:x":{"D":{}}}}`, "M_INVALID_PARAM", 0},
		{"too many devices", many(maxToDeviceRecipients + 1), "M_TOO_LARGE", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSendToDevice([]byte(tc.body))
			if tc.code == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if len(got) != tc.recipients {
					t.Fatalf("%d recipients, want %d", len(got), tc.recipients)
				}
				return
			}
			var me *mxhttp.Error
			if !errors.As(err, &me) || me.Code != tc.code {
				t.Fatalf("error %v, want %s", err, tc.code)
			}
		})
	}
}

// FuzzParseSendToDevice: any body is refused with a Matrix error or read
// into recipients with valid user ids and object contents.
func FuzzParseSendToDevice(f *testing.F) {
	for _, s := range []string{
		`{"messages":{"@a:x":{"DEV":{"body":"hi"}}}}`,
		`{"messages":{"@a:x":{"*":{}},"@b:y":{"D1":{},"D2":{"k":[1]}}}}`,
		`{"messages":{"@a:x":{"D":"text"}}}`,
		`{"messages":null}`, `{}`, `[]`, ``, `{"messages":{"alice":{}}}`,
		`{"messages":{"@a:x":{"D": {"x":1} }}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := parseSendToDevice(body)
		if err != nil {
			var me *mxhttp.Error
			if !errors.As(err, &me) || me.Status/100 != 4 {
				t.Fatalf("error %v is not a client error", err)
			}
			return
		}
		for _, rc := range got {
			if rc.User.String() == "" || len(rc.Devices) == 0 {
				t.Fatalf("recipient %+v", rc)
			}
			for d, content := range rc.Devices {
				var obj map[string]json.RawMessage
				if err := json.Unmarshal(content, &obj); err != nil || obj == nil {
					t.Fatalf("content for %s %s is not an object: %s", rc.User.String(), d, content)
				}
			}
		}
	})
}
