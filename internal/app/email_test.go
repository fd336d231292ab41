package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/rohrpost/rohrpost/internal/mailer/mailertest"
	"maunium.net/go/mautrix"
)

const publicBase = "https://matrix.behoerde.example"

var linkPattern = regexp.MustCompile(`https?://\S+`)

// emailServer runs a server that mails through a sink.
func emailServer(t *testing.T) (*apptest.Server, *mailertest.Sink) {
	sink := mailertest.Start(t)
	cfg := apptest.Config(t.TempDir())
	cfg.PublicBaseURL = publicBase
	cfg.Email.SMTPHost, cfg.Email.SMTPPort, cfg.Email.NotifFrom = sink.Host, sink.Port, "matrix@behoerde.example"
	return apptest.StartWith(t, cfg), sink
}

// followMailedLink takes the link from the next mail to address and opens
// it on srv, as the user's browser would.
func followMailedLink(t *testing.T, srv *apptest.Server, sink *mailertest.Sink, address string) *http.Response {
	t.Helper()
	m := sink.Next(t, 10*time.Second)
	if m.To != address {
		t.Fatalf("mail went to %s, want %s", m.To, address)
	}
	link := linkPattern.FindString(m.Body)
	if !strings.HasPrefix(link, publicBase+"/") {
		t.Fatalf("link %q does not point to public_baseurl", link)
	}
	resp, err := http.Get(srv.URL + strings.TrimPrefix(link, publicBase))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func anonymous(t *testing.T, srv *apptest.Server) *mautrix.Client {
	cli, err := mautrix.NewClient(srv.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

func TestEmailAddresses(t *testing.T) {
	t.Parallel()
	srv, sink := emailServer(t)
	ctx := context.Background()
	anon := anonymous(t, srv)
	const password = "erstes Passwort 2026"

	// Registration offers a flow that proves an address.
	status, challenge := rawCall(t, anon, "POST", "/register", map[string]any{"username": "anna", "password": password})
	if status != 401 || !strings.Contains(strings.Join(flowStages(challenge), " "), "[m.login.email.identity]") {
		t.Fatalf("register challenge %d %v, want a flow of m.login.email.identity alone", status, challenge)
	}
	session := challenge["session"].(string)
	status, body := rawCall(t, anon, "POST", "/register/email/requestToken",
		map[string]any{"client_secret": "geheim-1", "email": "Anna.Schmidt@Behoerde.example", "send_attempt": 1})
	if status != 200 || body["sid"] == "" || body["submit_url"] != publicBase+"/_rohrpost/client/email/submit_token" {
		t.Fatalf("requestToken: %d %v", status, body)
	}
	sid := body["sid"].(string)
	creds := map[string]any{"sid": sid, "client_secret": "geheim-1"}
	// Before the link is followed the stage fails.
	status, body = rawCall(t, anon, "POST", "/register", map[string]any{"auth": map[string]any{
		"type": "m.login.email.identity", "session": session, "threepid_creds": creds}})
	if status != 401 || body["errcode"] != "M_THREEPID_AUTH_FAILED" {
		t.Fatalf("register before validation: %d %v", status, body)
	}
	// The same send attempt again sends no second mail.
	rawCall(t, anon, "POST", "/register/email/requestToken",
		map[string]any{"client_secret": "geheim-1", "email": "anna.schmidt@behoerde.example", "send_attempt": 1})
	if resp := followMailedLink(t, srv, sink, "anna.schmidt@behoerde.example"); resp.StatusCode != 200 {
		t.Fatalf("following the link: %d", resp.StatusCode)
	}
	sink.None(t, 300*time.Millisecond)
	status, body = rawCall(t, anon, "POST", "/register", map[string]any{"auth": map[string]any{
		"type": "m.login.email.identity", "session": session, "threepid_creds": creds}})
	if status != 200 || !strings.HasPrefix(body["user_id"].(string), "@anna:") {
		t.Fatalf("register with the validated address: %d %v", status, body)
	}
	anna, err := mautrix.NewClient(srv.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	anna.AccessToken = body["access_token"].(string)
	status, body = rawCall(t, anna, "GET", "/account/3pid", nil)
	if list, _ := body["threepids"].([]any); status != 200 || len(list) != 1 || list[0].(map[string]any)["address"] != "anna.schmidt@behoerde.example" {
		t.Fatalf("GET /account/3pid: %d %v", status, body)
	}

	// The address is taken now.
	status, body = rawCall(t, anon, "POST", "/register/email/requestToken",
		map[string]any{"client_secret": "geheim-2", "email": "anna.schmidt@behoerde.example", "send_attempt": 1})
	if status != 400 || body["errcode"] != "M_THREEPID_IN_USE" {
		t.Fatalf("requestToken for a bound address: %d %v", status, body)
	}

	// Logging in by address, in the identifier and in the older fields.
	login := func(body map[string]any) (int, map[string]any) { return rawCall(t, anon, "POST", "/login", body) }
	for _, req := range []map[string]any{
		{"type": "m.login.password", "password": password, "identifier": map[string]any{"type": "m.id.thirdparty", "medium": "email", "address": "ANNA.schmidt@behoerde.example"}},
		{"type": "m.login.password", "password": password, "medium": "email", "address": "anna.schmidt@behoerde.example"},
	} {
		if status, body := login(req); status != 200 || !strings.HasPrefix(body["user_id"].(string), "@anna:") {
			t.Fatalf("login %v: %d %v", req, status, body)
		}
	}
	if status, body := login(map[string]any{"type": "m.login.password", "password": password, "medium": "email", "address": "niemand@behoerde.example"}); status != 403 {
		t.Fatalf("login with an unknown address: %d %v", status, body)
	}

	// Password reset: the link's token posted to submit_url, then the new
	// password set without an access token; every device is logged out.
	status, body = rawCall(t, anon, "POST", "/account/password/email/requestToken",
		map[string]any{"client_secret": "reset-1", "email": "anna.schmidt@behoerde.example", "send_attempt": 1})
	if status != 200 {
		t.Fatalf("reset requestToken: %d %v", status, body)
	}
	resetSID := body["sid"].(string)
	m := sink.Next(t, 10*time.Second)
	link, _ := url.Parse(linkPattern.FindString(m.Body))
	submit := func(token string) bool {
		req := map[string]any{"sid": resetSID, "client_secret": "reset-1", "token": token}
		_, out := rawCallURL(t, srv.URL+"/_rohrpost/client/email/submit_token", req)
		return out["success"] == true
	}
	if submit("falsch") {
		t.Fatal("a wrong token was accepted")
	}
	if !submit(link.Query().Get("token")) {
		t.Fatal("the mailed token was refused")
	}
	const newPassword = "zweites Passwort 2026"
	status, body = rawCall(t, anon, "POST", "/account/password", map[string]any{"new_password": newPassword})
	if status != 401 {
		t.Fatalf("reset without auth: %d %v", status, body)
	}
	status, body = rawCall(t, anon, "POST", "/account/password", map[string]any{"new_password": newPassword, "auth": map[string]any{
		"type": "m.login.email.identity", "session": body["session"], "threepid_creds": map[string]any{"sid": resetSID, "client_secret": "reset-1"}}})
	if status != 200 {
		t.Fatalf("password reset: %d %v", status, body)
	}
	if _, err := anna.Whoami(ctx); err == nil {
		t.Error("the old access token still works after a password reset")
	}
	if status, _ := login(map[string]any{"type": "m.login.password", "password": password, "medium": "email", "address": "anna.schmidt@behoerde.example"}); status != 403 {
		t.Errorf("the old password still logs in: %d", status)
	}
	status, body = login(map[string]any{"type": "m.login.password", "password": newPassword, "medium": "email", "address": "anna.schmidt@behoerde.example"})
	if status != 200 {
		t.Fatalf("login with the new password: %d %v", status, body)
	}
	anna.AccessToken = body["access_token"].(string)

	// A second address through /account/3pid/add, which wants the password.
	rawCall(t, anon, "POST", "/account/3pid/email/requestToken",
		map[string]any{"client_secret": "zweit-1", "email": "a.schmidt@behoerde.example", "send_attempt": 1})
	followMailedLink(t, srv, sink, "a.schmidt@behoerde.example")
	add := map[string]any{"client_secret": "zweit-1", "sid": ""}
	status, body = rawCall(t, anon, "POST", "/account/3pid/email/requestToken",
		map[string]any{"client_secret": "zweit-1", "email": "a.schmidt@behoerde.example", "send_attempt": 1})
	if status != 200 || body["sid"] == nil {
		t.Fatalf("requestToken again with the same send_attempt: %d %v", status, body)
	}
	add["sid"] = body["sid"]
	status, body = rawCall(t, anna, "POST", "/account/3pid/add", add)
	if status != 401 {
		t.Fatalf("3pid/add without auth: %d %v", status, body)
	}
	add["auth"] = map[string]any{"type": "m.login.password", "session": body["session"], "password": newPassword,
		"identifier": map[string]any{"type": "m.id.user", "user": "anna"}}
	if status, body = rawCall(t, anna, "POST", "/account/3pid/add", add); status != 200 {
		t.Fatalf("3pid/add: %d %v", status, body)
	}
	if _, body = rawCall(t, anna, "GET", "/account/3pid", nil); len(body["threepids"].([]any)) != 2 {
		t.Fatalf("after adding: %v", body)
	}
	status, body = rawCall(t, anna, "POST", "/account/3pid/delete", map[string]any{"medium": "email", "address": "A.Schmidt@behoerde.example"})
	if status != 200 || body["id_server_unbind_result"] != "no-support" {
		t.Fatalf("3pid/delete: %d %v", status, body)
	}
	if _, body = rawCall(t, anna, "GET", "/account/3pid", nil); len(body["threepids"].([]any)) != 1 {
		t.Fatalf("after deleting: %v", body)
	}

	// Deactivation releases the address.
	status, body = rawCall(t, anna, "POST", "/account/deactivate", map[string]any{})
	if status != 401 {
		t.Fatalf("deactivate without auth: %d %v", status, body)
	}
	status, body = rawCall(t, anna, "POST", "/account/deactivate", map[string]any{"auth": map[string]any{
		"type": "m.login.password", "session": body["session"], "password": newPassword,
		"identifier": map[string]any{"type": "m.id.user", "user": "anna"}}})
	if status != 200 {
		t.Fatalf("deactivate: %d %v", status, body)
	}
	if status, _ := login(map[string]any{"type": "m.login.password", "password": newPassword, "medium": "email", "address": "anna.schmidt@behoerde.example"}); status != 403 {
		t.Errorf("login by the address of a deactivated account: %d", status)
	}
}

func TestEmailBadInput(t *testing.T) {
	t.Parallel()
	srv, sink := emailServer(t)
	anon := anonymous(t, srv)
	tests := []struct {
		name    string
		body    map[string]any
		errcode string
	}{
		{"no send_attempt", map[string]any{"client_secret": "s", "email": "a@b.example"}, "M_MISSING_PARAM"},
		{"bad client secret", map[string]any{"client_secret": "s/../x", "email": "a@b.example", "send_attempt": 1}, "M_INVALID_PARAM"},
		{"not an address", map[string]any{"client_secret": "s", "email": "keine adresse", "send_attempt": 1}, "M_INVALID_PARAM"},
		{"display name and address", map[string]any{"client_secret": "s", "email": "Anna <a@b.example>", "send_attempt": 1}, "M_INVALID_PARAM"},
		{"next_link not http", map[string]any{"client_secret": "s", "email": "a@b.example", "send_attempt": 1, "next_link": "javascript:alert(1)"}, "M_INVALID_PARAM"},
		{"wrong type", map[string]any{"client_secret": 1, "email": "a@b.example", "send_attempt": 1}, "M_BAD_JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawCall(t, anon, "POST", "/register/email/requestToken", tc.body)
			if status != 400 || body["errcode"] != tc.errcode {
				t.Fatalf("%d %v, want 400 %s", status, body, tc.errcode)
			}
		})
	}
	sink.None(t, 200*time.Millisecond)
	// A forged link gets an error page, not a validated session.
	resp, err := http.Get(srv.URL + "/_rohrpost/client/email/submit_token?sid=x&client_secret=y&token=z")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("forged link: %d", resp.StatusCode)
	}
	status, body := rawCall(t, anon, "POST", "/account/password/email/requestToken",
		map[string]any{"client_secret": "s", "email": "niemand@b.example", "send_attempt": 1})
	if status != 400 || body["errcode"] != "M_THREEPID_NOT_FOUND" {
		t.Fatalf("reset for an unknown address: %d %v", status, body)
	}
}

// flowStages lists a 401 challenge's flows as "[stage stage]".
func flowStages(challenge map[string]any) []string {
	var out []string
	flows, _ := challenge["flows"].([]any)
	for _, f := range flows {
		stages, _ := f.(map[string]any)["stages"].([]any)
		var names []string
		for _, s := range stages {
			names = append(names, s.(string))
		}
		out = append(out, "["+strings.Join(names, " ")+"]")
	}
	return out
}

// rawCallURL posts body to a full URL without an access token.
func rawCallURL(t *testing.T, u string, body any) (int, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(u, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
