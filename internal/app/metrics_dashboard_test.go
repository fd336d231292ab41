package app_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/rohrpost/rohrpost/internal/metrics/metricstest"
)

// metricName finds the metric names in a PromQL expression.
var metricName = regexp.MustCompile(`\b(?:rohrpost|go|process)_[a-z_]+\b`)

// TestGrafanaDashboardNames: every metric the shipped Grafana dashboard
// queries is one a running server exports, so a renamed metric cannot
// leave a dashboard of empty panels behind.
func TestGrafanaDashboardNames(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../deploy/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Type, Title string
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("deploy/grafana-dashboard.json: %v", err)
	}
	used := map[string]string{} // metric -> panel
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			for _, name := range metricName.FindAllString(tg.Expr, -1) {
				used[name] = p.Title
			}
		}
	}
	if len(used) < 10 {
		t.Fatalf("the dashboard uses only %d metrics: %v", len(used), used)
	}

	// A server that has done some work, so that every labelled series
	// exists.
	srv := apptest.Start(t)
	metricsSrv := httptest.NewServer(srv.App.Handler("metrics"))
	defer metricsSrv.Close()
	alice := srv.Register(t, "alice")
	ctx := context.Background()
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "x"}); err != nil {
		t.Fatal(err)
	}
	fams := metricstest.Scrape(t, metricsSrv.URL+"/_synapse/metrics")
	for name, panel := range used {
		family := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && fams[base] != nil {
				family = base
			}
		}
		if fams[family] == nil {
			t.Errorf("panel %q queries %s, which the server does not export", panel, name)
		}
	}
}
