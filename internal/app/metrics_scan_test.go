package app_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/rohrpost/rohrpost/internal/metrics/metricstest"
	"github.com/rohrpost/rohrpost/mediaapi/clamd/clamdtest"
)

// TestMetricsMediaScans: each verdict of the virus scanner is counted
// once by result; a verdict remembered for the same content is not a
// scan; clamd away is an error.
func TestMetricsMediaScans(t *testing.T) {
	t.Parallel()
	clam := clamdtest.Start(t)
	cfg := apptest.Config(t.TempDir())
	cfg.ContentScanner.Clamd = clam.Address
	cfg.ContentScanner.FailClosed = true
	srv := apptest.StartWith(t, cfg)
	metricsSrv := httptest.NewServer(srv.App.Handler("metrics"))
	defer metricsSrv.Close()
	ctx := context.Background()
	alice := srv.Register(t, "alice")

	_, _ = alice.UploadBytes(ctx, clamdtest.Infected, "application/octet-stream")
	_, _ = alice.UploadBytes(ctx, clamdtest.Infected, "application/octet-stream") // remembered
	if _, err := alice.UploadBytes(ctx, []byte("Protokoll der Sitzung"), "text/plain"); err != nil {
		t.Fatal(err)
	}
	clam.Stop()
	_, _ = alice.UploadBytes(ctx, []byte("ungeprüft"), "text/plain")

	fams := metricstest.Scrape(t, metricsSrv.URL+"/_synapse/metrics")
	for _, tc := range []struct {
		result string
		want   float64
	}{{"infected", 1}, {"clean", 1}, {"error", 1}, {"too_large", 0}} {
		t.Run(tc.result, func(t *testing.T) {
			got, found := fams.Sum("rohrpost_media_scans_total", map[string]string{"result": tc.result})
			if !found || got != tc.want {
				t.Fatalf("rohrpost_media_scans_total{result=%q} = %v (found %v), want %v", tc.result, got, found, tc.want)
			}
		})
	}
}
