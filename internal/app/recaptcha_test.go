package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

func postJSON(t *testing.T, url string, body any) (int, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// The recaptcha stage asks the configured siteverify endpoint (a stub: no
// captcha service can run here) and then completes the flow with dummy.
func TestRegisterWithRecaptcha(t *testing.T) {
	t.Parallel()
	verify := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		ok := r.PostForm.Get("secret") == "private" && r.PostForm.Get("response") == "solved"
		_ = json.NewEncoder(w).Encode(map[string]bool{"success": ok})
	}))
	defer verify.Close()
	cfg := apptest.Config(t.TempDir())
	cfg.Recaptcha.PrivateKey, cfg.Recaptcha.PublicKey, cfg.Recaptcha.SiteverifyAPI = "private", "public", verify.URL
	srv := apptest.StartWith(t, cfg)
	register := srv.URL + "/_matrix/client/v3/register"

	status, body := postJSON(t, register, map[string]any{"username": "captcha1", "password": "long enough password",
		"auth": map[string]string{"type": "m.login.recaptcha", "response": "wrong"}})
	if status != http.StatusUnauthorized || body["errcode"] != "M_CAPTCHA_INVALID" {
		t.Fatalf("bad captcha: %d %v", status, body)
	}
	status, body = postJSON(t, register, map[string]any{"username": "captcha2", "password": "long enough password",
		"auth": map[string]string{"type": "m.login.recaptcha", "response": "solved"}})
	completed, _ := body["completed"].([]any)
	if status != http.StatusUnauthorized || len(completed) != 1 || completed[0] != "m.login.recaptcha" {
		t.Fatalf("solved captcha: %d %v", status, body)
	}
	session, _ := body["session"].(string)
	status, body = postJSON(t, register, map[string]any{"auth": map[string]string{"type": "m.login.dummy", "session": session}})
	if status != http.StatusOK || body["user_id"] != "@captcha2:localhost" {
		t.Fatalf("finishing the flow: %d %v", status, body)
	}
}
