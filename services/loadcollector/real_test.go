package loadcollector

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trilens/trilens/pkg/natstest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// expectation is one entry of testdata/real/expected.json, which
// testdata/real/expect.sh computes from the files with jq. A null metric is
// one the report does not give.
type expectation struct {
	File string `json:"file"`
	Kind string `json:"kind"`
	Runs []struct {
		Step       string              `json:"step"`
		Version    string              `json:"version"`
		URL        string              `json:"url"`
		FormFactor string              `json:"form_factor"`
		Metrics    map[string]*float64 `json:"-"`
	} `json:"runs"`
	Format           string `json:"format"`
	Thresholds       int    `json:"thresholds"`
	ThresholdsFailed int    `json:"thresholds_failed"`
	raw              map[string]json.RawMessage
}

var (
	webMetrics  = []string{"lcp_ms", "cls", "tbt_ms", "inp_ms", "ttfb_ms", "fcp_ms", "speed_index_ms", "performance_score"}
	loadMetrics = []string{"requests", "p50_ms", "p95_ms", "p99_ms", "failed_rate", "iterations"}
)

func loadExpectations(t *testing.T) []expectation {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "real", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		t.Fatal(err)
	}
	out := make([]expectation, len(raws))
	for i, r := range raws {
		e := &out[i]
		if err := json.Unmarshal(r, e); err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(r, &e.raw)
		if e.Kind == "lighthouse" {
			var rawRuns []map[string]json.RawMessage
			_ = json.Unmarshal(e.raw["runs"], &rawRuns)
			for j, rr := range rawRuns {
				e.Runs[j].Metrics = numbers(rr, webMetrics)
			}
		}
	}
	return out
}

func numbers(m map[string]json.RawMessage, keys []string) map[string]*float64 {
	out := map[string]*float64{}
	for _, k := range keys {
		var v *float64
		_ = json.Unmarshal(m[k], &v)
		out[k] = v
	}
	return out
}

// same compares a decoded value with the expected one: nil expected means
// the metric must be absent (0 and named in absent), never a measured 0.
func same(t *testing.T, what, metric string, want *float64, got float64, absent []string) {
	t.Helper()
	isAbsent := slices.Contains(absent, metric)
	switch {
	case want == nil && (!isAbsent || got != 0):
		t.Errorf("%s %s: got %v (absent %v), want absent", what, metric, got, isAbsent)
	case want != nil && (isAbsent || math.Abs(got-*want) > 1e-9*math.Max(1, math.Abs(*want))):
		t.Errorf("%s %s: got %v (absent %v), want %v", what, metric, got, isAbsent, *want)
	}
}

// TestRealFilesMatchExpectations posts every real report and k6 summary of
// testdata/real (gzipped ones as they are stored) to the collector and
// checks the events on the bus against what jq read from the same files.
func TestRealFilesMatchExpectations(t *testing.T) {
	exps := loadExpectations(t)
	lighthouseFiles, versions := 0, map[string]bool{}
	b := natstest.Bus(t)
	srv := startServer(t, b)
	for i, e := range exps {
		endpoint := "loadruns"
		if e.Kind == "lighthouse" {
			endpoint = "webvitals"
			lighthouseFiles++
		}
		body, err := os.ReadFile(filepath.Join("testdata", "real", e.File))
		if err != nil {
			t.Fatal(err)
		}
		commit := fmt.Sprintf("real%d", i)
		status, out := postTo(t, srv.URL+"/v1/"+endpoint+"?repo=acme/shop&test=real&commit="+commit, body)
		if status != http.StatusAccepted {
			t.Errorf("%s: %d %s", e.File, status, out)
			continue
		}
		var evs []*eventv1.Event
		for _, ev := range natstest.Published(t, b) {
			if ev.GetEnvelope().GetSubject().GetCommit() == commit {
				evs = append(evs, ev)
			}
		}
		slices.SortFunc(evs, func(a, b *eventv1.Event) int {
			return int(a.GetEnvelope().GetPart().GetIndex()) - int(b.GetEnvelope().GetPart().GetIndex())
		})
		if e.Kind == "lighthouse" {
			if len(evs) != len(e.Runs) {
				t.Errorf("%s: %d events, want %d runs", e.File, len(evs), len(e.Runs))
				continue
			}
			for j, want := range e.Runs {
				v := evs[j].GetWebVitals()
				what := fmt.Sprintf("%s run %d (%s)", e.File, j, want.Step)
				versions[v.GetLighthouseVersion()] = true
				if v.GetLighthouseVersion() != want.Version || v.GetUrl() != want.URL || v.GetStep() != want.Step || v.GetFormFactor() != want.FormFactor {
					t.Errorf("%s: version %q url %q step %q form factor %q, want %q %q %q %q", what, v.GetLighthouseVersion(), v.GetUrl(), v.GetStep(), v.GetFormFactor(), want.Version, want.URL, want.Step, want.FormFactor)
				}
				got := map[string]float64{"lcp_ms": v.GetLcpMs(), "cls": v.GetCls(), "tbt_ms": v.GetTbtMs(), "inp_ms": v.GetInpMs(), "ttfb_ms": v.GetTtfbMs(), "fcp_ms": v.GetFcpMs(), "speed_index_ms": v.GetSpeedIndexMs(), "performance_score": v.GetPerformanceScore()}
				for _, m := range webMetrics {
					same(t, what, m, want.Metrics[m], got[m], v.GetAbsent())
				}
			}
			continue
		}
		if len(evs) != 1 {
			t.Errorf("%s: %d events, want 1", e.File, len(evs))
			continue
		}
		run := evs[0].GetLoadRun()
		if run.GetFormat() != e.Format || len(run.GetThresholds()) != e.Thresholds {
			t.Errorf("%s: format %s, %d thresholds; want %s, %d", e.File, run.GetFormat(), len(run.GetThresholds()), e.Format, e.Thresholds)
		}
		failed := 0
		for _, th := range run.GetThresholds() {
			if !th.GetPassed() {
				failed++
			}
		}
		if failed != e.ThresholdsFailed || run.GetThresholdsPassed() != (failed == 0) {
			t.Errorf("%s: %d thresholds failed (passed %v), want %d", e.File, failed, run.GetThresholdsPassed(), e.ThresholdsFailed)
		}
		all := run.GetScenarios()[0]
		want := numbers(e.raw, loadMetrics)
		got := map[string]float64{"requests": all.GetRequests(), "p50_ms": all.GetP50Ms(), "p95_ms": all.GetP95Ms(), "p99_ms": all.GetP99Ms(), "failed_rate": all.GetFailedRate(), "iterations": all.GetIterations()}
		for _, m := range loadMetrics {
			same(t, e.File, m, want[m], got[m], all.GetAbsent())
		}
	}
	if lighthouseFiles < 10 || len(versions) < 8 {
		t.Errorf("the corpus has %d Lighthouse files of %d versions, want at least 10 files of 8 versions", lighthouseFiles, len(versions))
	}
	t.Logf("%d files; Lighthouse versions %s", len(exps), strings.Join(slices.Sorted(func(yield func(string) bool) {
		for v := range versions {
			if !yield(v) {
				return
			}
		}
	}), ", "))
}
