package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// casStub stands in for a CAS server, which cannot run here: it accepts one
// ticket for one user and checks the service it is asked about.
func casStub(t *testing.T, ticket, user string, wantService *string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cas/proxyValidate" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("ticket") != ticket || r.URL.Query().Get("service") != *wantService {
			fmt.Fprint(w, `<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationFailure code="INVALID_TICKET"/></cas:serviceResponse>`)
			return
		}
		fmt.Fprintf(w, `<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess><cas:user>%s</cas:user></cas:authenticationSuccess></cas:serviceResponse>`, user)
	}))
}

func TestCASLoginWithLoginToken(t *testing.T) {
	t.Parallel()
	var service string
	cas := casStub(t, "goldenticket", "cas_user!", &service)
	defer cas.Close()
	cfg := apptest.Config(t.TempDir())
	cfg.CAS.Enabled = true
	cfg.CAS.ServerURL = cas.URL + "/cas"
	srv := apptest.StartWith(t, cfg)
	cfg.PublicBaseURL = srv.URL

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(srv.URL + "/_matrix/client/v3/login/sso/redirect?redirectUrl=" + url.QueryEscape("https://client.example/?p=1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), cas.URL+"/cas/login?") {
		t.Fatalf("redirect: %d %s", resp.StatusCode, loc)
	}
	service = loc.Query().Get("service")

	page, err := http.Get(service + "&ticket=goldenticket")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	m := regexp.MustCompile(`loginToken=([^"&]+)`).FindSubmatch(body)
	if page.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("ticket page: %d %s", page.StatusCode, body)
	}
	token, _ := url.QueryUnescape(string(m[1]))

	login := func() (int, map[string]any) {
		req, _ := json.Marshal(map[string]string{"type": "m.login.token", "token": token})
		resp, err := http.Post(srv.URL+"/_matrix/client/v3/login", "application/json", bytes.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	status, out := login()
	if status != http.StatusOK || out["user_id"] != "@cas_user=21:localhost" || out["access_token"] == "" {
		t.Fatalf("token login: %d %v", status, out)
	}
	if status, out := login(); status != http.StatusForbidden {
		t.Fatalf("a login token must work once: %d %v", status, out)
	}

	bad, err := http.Get(service + "&ticket=forged")
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if bad.StatusCode != http.StatusForbidden {
		t.Fatalf("forged ticket: %d", bad.StatusCode)
	}
}
