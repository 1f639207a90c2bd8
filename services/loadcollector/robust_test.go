package loadcollector

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/trilens/trilens/pkg/natstest"
)

// TestSameSummaryForSixCommitsIsSixRuns: the subject is part of the report
// and event ids, so the same k6 summary posted for six commits is six runs
// on the bus, not one run and five duplicates dropped; posted again for a
// commit it already has, it is the same run.
func TestSameSummaryForSixCommitsIsSixRuns(t *testing.T) {
	b := natstest.Bus(t)
	srv := startServer(t, b)
	body := fixture(t, "k6/mixed-summary-export.json")
	reports := map[string]bool{}
	for i := 1; i <= 6; i++ {
		status, out := postTo(t, srv.URL+"/v1/loadruns?repo=acme/shop&branch=main&test=checkout&commit=c"+string(rune('0'+i)), body)
		if status != http.StatusAccepted {
			t.Fatalf("commit %d: %d %s", i, status, out)
		}
		var resp Response
		_ = json.Unmarshal(out, &resp)
		reports[resp.ReportID] = true
	}
	if status, _ := postTo(t, srv.URL+"/v1/loadruns?repo=acme/shop&branch=main&test=checkout&commit=c3", body); status != http.StatusAccepted {
		t.Fatalf("resubmission: %d", status)
	}
	evs := natstest.Published(t, b)
	ids, runs := map[string]bool{}, map[string]bool{}
	for _, ev := range evs {
		ids[ev.GetEnvelope().GetEventId()] = true
		runs[ev.GetLoadRun().GetRunId()] = true
	}
	if len(evs) != 6 || len(ids) != 6 || len(runs) != 6 || len(reports) != 6 {
		t.Fatalf("%d events, %d event ids, %d run ids, %d report ids: want 6 of each", len(evs), len(ids), len(runs), len(reports))
	}
}

func postTo(t *testing.T, u string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// wantRefused checks a 400 naming field (and, if given, saying why).
func wantRefused(t *testing.T, status int, out []byte, field, why string) {
	t.Helper()
	var e struct {
		Field string `json:"field"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal(out, &e)
	if status != http.StatusBadRequest || e.Field != field || !strings.Contains(e.Error, why) {
		t.Fatalf("status %d %s, want 400 naming %q (%s)", status, out, field, why)
	}
}

// TestUnscorableSubjectsAreRefused: what the scorer could not store, group
// or bind into a query is refused at the door, naming the field, and
// publishes nothing.
func TestUnscorableSubjectsAreRefused(t *testing.T) {
	b := natstest.Bus(t)
	srv := startServer(t, b)
	summary := fixture(t, "k6/mixed-summary-export.json")
	huge := strings.Repeat("t", 600<<10)

	status, out := postTo(t, srv.URL+"/v1/loadruns?"+url.Values{"test": {huge}}.Encode(), summary)
	wantRefused(t, status, out, "test", "614400 bytes")
	status, out = postTo(t, srv.URL+"/v1/loadruns?"+url.Values{"repo": {huge}, "test": {"checkout"}}.Encode(), summary)
	wantRefused(t, status, out, "repo", "614400 bytes")
	status, out = postTo(t, srv.URL+"/v1/loadruns?"+url.Values{"commit": {"abc'; DROP TABLE x"}}.Encode(), summary)
	wantRefused(t, status, out, "commit", "character")

	// A page URL the report gives is bounded like the subject.
	lh := []byte(`{"lighthouseVersion":"13.5.0","finalDisplayedUrl":"https://example.com/` + strings.Repeat("p", 3000) + `","audits":{"first-contentful-paint":{"numericValue":1},"interactive":{"numericValue":2}}}`)
	status, out = postTo(t, srv.URL+"/v1/webvitals", lh)
	wantRefused(t, status, out, "url (run 1)", "want at most 2048")

	if evs := natstest.Published(t, b); len(evs) != 0 {
		t.Fatalf("%d events published for refused documents", len(evs))
	}
}

// TestDeepNestingIsRefused: a document nested far past the bound gets a 400
// with the reason before any decoder recurses into it, on both endpoints,
// and the collector goes on accepting documents.
func TestDeepNestingIsRefused(t *testing.T) {
	b := natstest.Bus(t)
	srv := startServer(t, b)
	for _, tc := range []struct{ endpoint, prefix string }{
		{"loadruns", `{"metrics":{"http_reqs":`},
		{"loadruns", `{"type":"Metric","metric":"x","data":{"thresholds":`},
		{"webvitals", `{"lighthouseVersion":"13.5.0","audits":`},
		{"webvitals", `{"steps":[{"lhr":`},
	} {
		status, out := postTo(t, srv.URL+"/v1/"+tc.endpoint, deepDoc(tc.prefix, 1_000_000))
		wantRefused(t, status, out, "body", "nests deeper than 128 levels")
	}
	if status, out := postTo(t, srv.URL+"/v1/loadruns?test=checkout", fixture(t, "k6/mixed-summary-export.json")); status != http.StatusAccepted {
		t.Fatalf("after the deep documents: %d %s", status, out)
	}
}

// TestAbsentIsNotZero: a k6 summary written without p(95) (k6 run with
// --summary-trend-stats "avg,p(99)"; the fixture is a real summary with
// those keys removed, an edge case) and a Lighthouse 5 report (no LCP, TBT
// or CLS yet) carry the missing metrics as absent, not as a passing 0.
func TestAbsentIsNotZero(t *testing.T) {
	var doc struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal(fixture(t, "k6/mixed-summary-export.json"), &doc); err != nil {
		t.Fatal(err)
	}
	for name, m := range doc.Metrics {
		if strings.HasPrefix(name, "http_req_duration") {
			delete(m, "p(95)")
			delete(m, "p(90)")
		}
	}
	edited, _ := json.Marshal(doc)
	b := natstest.Bus(t)
	srv := startServer(t, b)
	if status, out := postTo(t, srv.URL+"/v1/loadruns?test=checkout", edited); status != http.StatusAccepted {
		t.Fatalf("%d %s", status, out)
	}
	if status, out := postTo(t, srv.URL+"/v1/webvitals", fixture(t, "real/lighthouse/lhr-5.0.0.json")); status != http.StatusAccepted {
		t.Fatalf("%d %s", status, out)
	}
	var checked int
	for _, ev := range natstest.Published(t, b) {
		if run := ev.GetLoadRun(); run != nil {
			all := run.GetScenarios()[0]
			if all.GetP95Ms() != 0 || !slices.Contains(all.GetAbsent(), "p95_ms") || slices.Contains(all.GetAbsent(), "p99_ms") || all.GetP99Ms() == 0 {
				t.Errorf("run without p(95): p95 %v p99 %v absent %v", all.GetP95Ms(), all.GetP99Ms(), all.GetAbsent())
			}
			checked++
		}
		if v := ev.GetWebVitals(); v != nil {
			for _, m := range []string{"lcp_ms", "cls", "tbt_ms", "inp_ms"} {
				if !slices.Contains(v.GetAbsent(), m) {
					t.Errorf("Lighthouse %s: %s not absent (absent %v)", v.GetLighthouseVersion(), m, v.GetAbsent())
				}
			}
			if v.GetLcpMs() != 0 || v.GetFcpMs() == 0 || v.GetTtfbMs() == 0 || slices.Contains(v.GetAbsent(), "ttfb_ms") {
				t.Errorf("Lighthouse 5: lcp %v fcp %v ttfb %v (time-to-first-byte maps to TTFB)", v.GetLcpMs(), v.GetFcpMs(), v.GetTtfbMs())
			}
			checked++
		}
	}
	if checked != 2 {
		t.Fatalf("checked %d events, want a run and a page", checked)
	}
}

// TestLighthouseShapesEdgeCases covers hand-written edge cases of the shapes
// the real corpus does not hold: a PageSpeed Insights API response, a flow
// step with a runtime error (left out), and a flow with nothing measured.
func TestLighthouseShapesEdgeCases(t *testing.T) {
	nav := `{"lighthouseVersion":"12.0.0","gatherMode":"navigation","finalDisplayedUrl":"https://example.com/","audits":{"first-contentful-paint":{"numericValue":900},"interactive":{"numericValue":1500},"largest-contentful-paint":{"numericValue":1200}}}`
	vs, runs, err := decodeLighthouse(guarded([]byte(`{"kind":"pagespeedonline#result","lighthouseResult":` + nav + `}`)))
	if err != nil || runs != 1 || len(vs) != 1 || vs[0].GetLcpMs() != 1200 || vs[0].GetUrl() != "https://example.com/" {
		t.Fatalf("PSI response: %v %d %v", err, runs, vs)
	}
	failed := `{"lighthouseVersion":"12.0.0","gatherMode":"navigation","finalDisplayedUrl":"https://example.com/x","runtimeError":{"code":"NO_FCP"},"audits":{}}`
	vs, _, err = decodeLighthouse(guarded([]byte(`{"steps":[{"name":"broken","lhr":` + failed + `},{"name":"home","lhr":` + nav + `}]}`)))
	if err != nil || len(vs) != 1 || vs[0].GetStep() != "home" || vs[0].GetRuns() != 1 {
		t.Fatalf("flow with a failed step: %v %v", err, vs)
	}
	_, _, err = decodeLighthouse(guarded([]byte(`{"steps":[{"name":"broken","lhr":` + failed + `}]}`)))
	if statusOf(err) != http.StatusUnprocessableEntity {
		t.Fatalf("flow with nothing measured: %v, want 422", err)
	}
	_, _, err = decodeLighthouse(guarded([]byte(`{"steps":[{"name":"no result"}]}`)))
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "steps[0].lhr") {
		t.Fatalf("flow step without a result: %v, want 400 naming steps[0].lhr", err)
	}
}
