package app_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// PUT /v2/users/{userId} replaces a user's e-mail addresses and links to
// identity providers; the lookups find the user by either.
func TestAdminAPIUserLinks(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	admin := registerAdmin(t, srv, "linksadmin")
	alice := srv.Register(t, "alice")
	u := "/v2/users/" + alice.UserID.String()
	status, body := adminCall(t, admin, "PUT", u, map[string]any{
		"threepids":    []any{map[string]any{"medium": "email", "address": "Alice@Example.org"}},
		"external_ids": []any{map[string]any{"auth_provider": "oidc-keycloak", "external_id": "sub-1"}},
	})
	if status != 200 || fmt.Sprint(body["external_ids"]) != "[map[auth_provider:oidc-keycloak external_id:sub-1]]" {
		t.Fatalf("put: %d %v", status, body)
	}
	if tps, _ := body["threepids"].([]any); len(tps) != 1 || tps[0].(map[string]any)["address"] != "alice@example.org" {
		t.Fatalf("threepids: %v", body["threepids"])
	}
	for _, path := range []string{"/v1/threepid/email/users/" + url.PathEscape("alice@example.org"),
		"/v1/threepid/email/users/" + url.PathEscape("ALICE@example.org"), "/v1/auth_providers/oidc-keycloak/users/sub-1"} {
		if status, body := adminCall(t, admin, "GET", path, nil); status != 200 || body["user_id"] != alice.UserID.String() {
			t.Fatalf("%s: %d %v", path, status, body)
		}
	}
	// A new account with links.
	status, body = adminCall(t, admin, "PUT", "/v2/users/@carol:localhost", map[string]any{"password": "carol-password-1",
		"threepids": []any{map[string]any{"medium": "email", "address": "carol@example.org"}}})
	if status != 201 || fmt.Sprint(body["threepids"]) == "[]" {
		t.Fatalf("create: %d %v", status, body)
	}
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"address of another account", map[string]any{"threepids": []any{map[string]any{"medium": "email", "address": "alice@example.org"}}}, 409, "M_THREEPID_IN_USE"},
		{"external id of another account", map[string]any{"external_ids": []any{map[string]any{"auth_provider": "oidc-keycloak", "external_id": "sub-1"}}}, 409, "M_UNKNOWN"},
		{"phone number", map[string]any{"threepids": []any{map[string]any{"medium": "msisdn", "address": "491701234567"}}}, 400, "M_INVALID_PARAM"},
		{"not an address", map[string]any{"threepids": []any{map[string]any{"medium": "email", "address": "kein adresse"}}}, 400, "M_INVALID_PARAM"},
		{"external id without provider", map[string]any{"external_ids": []any{map[string]any{"external_id": "x"}}}, 400, "M_INVALID_PARAM"},
		{"threepids not a list", map[string]any{"threepids": "alice@example.org"}, 400, "M_INVALID_PARAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := adminCall(t, admin, "PUT", "/v2/users/@carol:localhost", tc.body)
			if status != tc.status || body["errcode"] != tc.code {
				t.Fatalf("%d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	// Empty lists remove the links.
	status, body = adminCall(t, admin, "PUT", u, map[string]any{"threepids": []any{}, "external_ids": []any{}})
	if status != 200 || fmt.Sprint(body["threepids"]) != "[]" || fmt.Sprint(body["external_ids"]) != "[]" {
		t.Fatalf("remove: %d %v", status, body)
	}
	for _, path := range []string{"/v1/threepid/email/users/alice@example.org", "/v1/auth_providers/oidc-keycloak/users/sub-1"} {
		if status, body := adminCall(t, admin, "GET", path, nil); status != 404 || body["errcode"] != "M_NOT_FOUND" {
			t.Fatalf("%s after removal: %d %v", path, status, body)
		}
	}
	_, body = adminCall(t, admin, "GET", "/v1/audit_log?action=user.modify&target="+alice.UserID.String(), nil)
	if entries, _ := body["entries"].([]any); len(entries) != 2 ||
		fmt.Sprint(entries[0].(map[string]any)["details"]) != "map[fields:[external_ids threepids]]" {
		t.Fatalf("audit: %v", body)
	}
}
