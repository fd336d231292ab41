package app_test

import (
	"bytes"
	"encoding/json"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

func TestURLPreview(t *testing.T) {
	t.Parallel()
	var pic bytes.Buffer
	_ = png.Encode(&pic, testImage(120, 60))
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/bild.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write(pic.Bytes())
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(`<html><head><title>Ersatztitel</title><meta property="og:title" content="Bürgeramt Mitte">
				<meta property="og:description" content="Öffnungszeiten"><meta property="og:image" content="/bild.png"></head><body></body></html>`))
		}
	}))
	defer site.Close()

	preview := func(cfgOpen bool) (int, map[string]any) {
		cfg := apptest.Config(t.TempDir())
		cfg.URLPreview.Enabled = true
		if cfgOpen {
			none := []string{}
			cfg.IPRangeBlacklist = &none // the test site is on loopback
		}
		srv := apptest.StartWith(t, cfg)
		alice := srv.Register(t, "alice")
		return rawCallURLGet(t, srv.URL+"/_matrix/client/v1/media/preview_url?url="+url.QueryEscape(site.URL+"/seite"), alice.AccessToken)
	}
	status, og := preview(true)
	if status != 200 || og["og:title"] != "Bürgeramt Mitte" || og["og:description"] != "Öffnungszeiten" ||
		og["og:image:width"] != float64(120) || og["og:image:height"] != float64(60) {
		t.Fatalf("preview: %d %v", status, og)
	}
	if img, _ := og["og:image"].(string); len(img) < 7 || img[:6] != "mxc://" {
		t.Fatalf("og:image %v", og["og:image"])
	}
	// By default internal addresses are out of reach.
	if status, body := preview(false); status != 502 {
		t.Fatalf("preview of a loopback address: %d %v", status, body)
	}
}

func rawCallURLGet(t *testing.T, u, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = jsonDecode(resp.Body, &out)
	return resp.StatusCode, out
}

func jsonDecode(r interface{ Read([]byte) (int, error) }, v any) error {
	return json.NewDecoder(r).Decode(v)
}
