package clientapi

import (
	"net/http"
	"testing"
)

func TestPushRulePaths(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.register("alice")
	notify := map[string]any{"actions": []any{"notify"}}
	tests := []struct {
		name, method, path string
		body               any
		status             int
		errcode            string
	}{
		{"all rules", "GET", "/pushrules/", nil, 200, ""},
		{"no trailing slash", "GET", "/pushrules", nil, 404, "M_UNRECOGNIZED"},
		{"scope", "GET", "/pushrules/global/", nil, 200, ""},
		{"scope without slash", "GET", "/pushrules/global", nil, 400, "M_INVALID_PARAM"},
		{"unknown scope", "GET", "/pushrules/device/", nil, 400, "M_INVALID_PARAM"},
		{"kind without slash", "GET", "/pushrules/global/room", nil, 400, "M_INVALID_PARAM"},
		{"unknown kind", "GET", "/pushrules/global/postcard/", nil, 400, "M_INVALID_PARAM"},
		{"default rule", "GET", "/pushrules/global/override/.m.rule.master", nil, 200, ""},
		{"unknown rule", "GET", "/pushrules/global/override/nope", nil, 404, "M_NOT_FOUND"},
		{"unknown attribute", "GET", "/pushrules/global/override/.m.rule.master/colour", nil, 400, "M_INVALID_PARAM"},
		{"enabled", "GET", "/pushrules/global/override/.m.rule.master/enabled", nil, 200, ""},
		{"put without scope", "PUT", "/pushrules/", notify, 400, "M_INVALID_PARAM"},
		{"put without rule id", "PUT", "/pushrules/global/room/", notify, 400, "M_INVALID_PARAM"},
		{"put a dot rule", "PUT", "/pushrules/global/room/.mine", notify, 400, "M_INVALID_PARAM"},
		{"put without actions", "PUT", "/pushrules/global/room/!r:test", map[string]any{}, 400, "M_INVALID_PARAM"},
		{"put not JSON", "PUT", "/pushrules/global/room/!r:test", "[", 400, "M_NOT_JSON"},
		{"put a room rule", "PUT", "/pushrules/global/room/!r:test", notify, 200, ""},
		{"put after a missing rule", "PUT", "/pushrules/global/room/!s:test?after=!nope:test", notify, 400, "M_UNKNOWN"},
		{"enabled not a boolean", "PUT", "/pushrules/global/room/!r:test/enabled", map[string]any{"enabled": "ja"}, 400, "M_BAD_JSON"},
		{"disable", "PUT", "/pushrules/global/room/!r:test/enabled", map[string]any{"enabled": false}, 200, ""},
		{"bad actions", "PUT", "/pushrules/global/room/!r:test/actions", map[string]any{"actions": []any{"shout"}}, 400, "M_INVALID_PARAM"},
		{"delete a default rule", "DELETE", "/pushrules/global/override/.m.rule.master", nil, 400, "M_INVALID_PARAM"},
		{"delete", "DELETE", "/pushrules/global/room/!r:test", nil, 200, ""},
		{"delete again", "DELETE", "/pushrules/global/room/!r:test", nil, 404, "M_NOT_FOUND"},
		{"no token", "GET", "/pushrules/", nil, http.StatusUnauthorized, "M_MISSING_TOKEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token := alice.token
			if tc.errcode == "M_MISSING_TOKEN" {
				token = ""
			}
			ts.expect(ts.do(tc.method, "/_matrix/client/v3"+tc.path, token, tc.body), tc.status, tc.errcode)
		})
	}
}
