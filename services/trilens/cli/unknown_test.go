package cli

import (
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store/chtest"
	"github.com/trilens/trilens/services/loadcollector"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

const unknownPolicy = `
version: 1
scalability:
  targets:
    - name: ws
      p95_at_peak_ms: 300
web_vitals:
  default: { lcp_ms: 2500, cls: 0.1, tbt_ms: 200, ttfb_ms: 800, min_performance_score: 50 }
`

// TestAbsentMetricsAreUnknownOnScorecardAndGate submits two real reports
// that lack a budgeted metric, a Lighthouse 5.0.0 report (no LCP) and a k6
// summary export of a WebSocket test (no p(95)), through the load collector
// and the scorer: both budgets are unknown on the scorecard, warned by the
// gate by default and blocking with on_unknown=fail. They used to pass on a
// stored zero.
func TestAbsentMetricsAreUnknownOnScorecardAndGate(t *testing.T) {
	pol, err := policy.Parse([]byte(unknownPolicy), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := chtest.Store(t)
	b := natstest.Bus(t)
	var cfg loadcollector.Config
	cfg.RegisterFlags("", flag.NewFlagSet("c", flag.ContinueOnError))
	cfg.StoreDocuments = false
	coll, err := loadcollector.New(cfg, collect.Settings{Publisher: b, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	coll.Register(mux)
	startScorer(t, b, st, pol).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	real := func(p string) string { return filepath.Join("..", "..", "loadcollector", "testdata", "real", p) }
	for _, args := range [][]string{
		{"submit", "webvitals", "--url", srv.URL, "--repo", "acme/shop", "--commit", "c0ffee", real("lighthouse/lhr-5.0.0.json")},
		{"submit", "load", "--url", srv.URL, "--repo", "acme/shop", "--commit", "c0ffee", "--test", "ws", real("k6/centrifugo-ws-summary-export.json")},
	} {
		if code, out := runCLI(args...); code != ExitPass {
			t.Fatalf("%v: exit %d\n%s", args, code, out)
		}
	}
	get := func(path string) scorecard.Scorecard {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var card scorecard.Scorecard
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(&card); err != nil {
			t.Fatal(err)
		}
		return card
	}
	q := "?tenant=default&repo=acme/shop&commit=c0ffee"
	status := func(card scorecard.Scorecard) map[string]scorecard.Item {
		out := map[string]scorecard.Item{}
		for _, it := range card.Items {
			out[it.Key] = it
		}
		return out
	}
	var card scorecard.Scorecard
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		card = get("/v1/scorecard" + q)
		s := status(card)
		if _, ok := s["load_p95_at_peak_ms"]; ok {
			if _, ok := s["web_lcp_ms"]; ok {
				break
			}
		}
	}
	items := status(card)
	for _, kpi := range []string{"web_lcp_ms", "load_p95_at_peak_ms"} {
		it, ok := items[kpi]
		if !ok || it.Status != "unknown" {
			t.Errorf("%s on the scorecard: %+v, want status unknown", kpi, it)
			continue
		}
		if it.Blocking() {
			t.Errorf("%s is unknown and blocks by default", kpi)
		}
	}
	for key, it := range status(get("/v1/gate" + q)) {
		if it.Status == "unknown" {
			t.Errorf("the default gate blocks on the unknown %s", key)
		}
	}
	strict := status(get("/v1/gate" + q + "&on_unknown=fail"))
	for _, kpi := range []string{"web_lcp_ms", "load_p95_at_peak_ms"} {
		if it, ok := strict[kpi]; !ok || it.Status != "unknown" || !it.Blocking() {
			t.Errorf("gate with on_unknown=fail: %s is %+v, want blocking and unknown", kpi, it)
		}
	}
	resp, err := http.Get(srv.URL + "/v1/gate" + q + "&on_unknown=maybe")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("on_unknown=maybe: %s, want 400", resp.Status)
	}
}
