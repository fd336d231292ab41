package metricstest

import (
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are the parsed metric families of one scrape, by name.
type Families map[string]*dto.MetricFamily

// Scrape fetches url asking for the text format, as Prometheus does, and
// parses it with Prometheus' own parser: a scrape that does not parse
// fails the test.
func Scrape(t testing.TB, url string) Families {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scrape %s: Content-Type %q, want the text format", url, ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: not the text format: %v", url, err)
	}
	return fams
}

// Sum adds up the samples of the family name whose labels include want:
// a counter's or gauge's value, a histogram's count of observations.
// found tells whether any sample matched.
func (f Families) Sum(name string, want map[string]string) (total float64, found bool) {
next:
	for _, m := range f[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			total += m.Untyped.GetValue()
		}
	}
	return total, found
}

// Value is Sum without found.
func (f Families) Value(name string, want map[string]string) float64 {
	v, _ := f.Sum(name, want)
	return v
}

// Missing names those of names the scrape has no family of.
func (f Families) Missing(names ...string) []string {
	var out []string
	for _, n := range names {
		if f[n] == nil {
			out = append(out, n)
		}
	}
	return out
}
