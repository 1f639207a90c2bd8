package loadcollector

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
)

var testSteps = StepOptions{MinSeconds: 3, KneeEfficiency: 0.5, SaturationRatio: 1.5}

// fixture reads a testdata file, gunzipping *.gz.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func decodeRun(t testing.TB, name string) *loadtestv1.LoadRun {
	t.Helper()
	run, _, err := DecodeLoadRun(bufio.NewReader(bytes.NewReader(fixture(t, name))), "", testSteps)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return run
}

// doc reads a k6 summary generically, so the expected figures come from the
// document itself and not from the decoder under test.
func doc(t *testing.T, name string) map[string]map[string]any {
	var d struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal(fixture(t, name), &d); err != nil {
		t.Fatal(err)
	}
	return d.Metrics
}

func num(t *testing.T, m map[string]map[string]any, metric string, keys ...string) float64 {
	t.Helper()
	vals := m[metric]
	if v, ok := vals["values"].(map[string]any); ok {
		vals = v
	}
	for _, k := range keys {
		if x, ok := vals[k].(float64); ok {
			return x
		}
	}
	t.Fatalf("%s has none of %v", metric, keys)
	return 0
}

func near(got, want, rel float64) bool {
	if want == 0 {
		return got == 0
	}
	return math.Abs(got-want)/math.Abs(want) <= rel
}

func TestSummariesMatchTheirDocuments(t *testing.T) {
	for _, tc := range []struct{ file, format string }{
		{"k6/mixed-summary-export.json", FormatSummaryExport},
		{"k6/mixed-handle-summary.json", FormatHandleSummary},
	} {
		t.Run(tc.format, func(t *testing.T) {
			run, m := decodeRun(t, tc.file), doc(t, tc.file)
			if run.Format != tc.format {
				t.Fatalf("format %q, want %q", run.Format, tc.format)
			}
			all := run.Scenarios[0]
			want := map[string][2]float64{
				"requests":   {all.Requests, num(t, m, "http_reqs", "count")},
				"rps":        {all.Rps, num(t, m, "http_reqs", "rate")},
				"p50":        {all.P50Ms, num(t, m, "http_req_duration", "med")},
				"p90":        {all.P90Ms, num(t, m, "http_req_duration", "p(90)")},
				"p95":        {all.P95Ms, num(t, m, "http_req_duration", "p(95)")},
				"p99":        {all.P99Ms, num(t, m, "http_req_duration", "p(99)")},
				"failed":     {all.FailedRate, num(t, m, "http_req_failed", "rate", "value")},
				"iterations": {all.Iterations, num(t, m, "iterations", "count")},
				"vus_max":    {all.VusMax, num(t, m, "vus_max", "max")},
				"checks+":    {all.ChecksPassed, num(t, m, "checks", "passes")},
				"checks-":    {all.ChecksFailed, num(t, m, "checks", "fails")},
				"checkout95": {run.Scenarios[1].P95Ms, num(t, m, "http_req_duration{scenario:checkout}", "p(95)")},
			}
			for k, v := range want {
				if v[0] != v[1] {
					t.Errorf("%s = %v, document says %v", k, v[0], v[1])
				}
			}
			if run.Scenarios[1].Scenario != "checkout" || len(run.Scenarios) != 2 {
				t.Errorf("scenarios %v, want the whole run and checkout", run.Scenarios)
			}
			// k6 ran with four thresholds; two fail (5% injected errors, checkout p99 < 5 ms).
			got := map[string]bool{}
			for _, th := range run.Thresholds {
				got[th.Metric+" "+th.Expression] = th.Passed
			}
			wantTh := map[string]bool{
				"http_req_duration p(95)<500":                  true,
				"http_req_failed rate<0.01":                    false,
				"checks rate>0.9":                              true,
				"http_req_duration{scenario:checkout} p(99)<5": false,
			}
			if len(got) != len(wantTh) {
				t.Errorf("thresholds %v, want %v", got, wantTh)
			}
			for k, v := range wantTh {
				if p, ok := got[k]; !ok || p != v {
					t.Errorf("threshold %s: passed=%v (present %v), want %v", k, p, ok, v)
				}
			}
			if run.ThresholdsPassed {
				t.Error("run passed its thresholds, want failed")
			}
			if !near(run.DurationS, 4.0, 0.05) {
				t.Errorf("duration %v s, want about 4 s", run.DurationS)
			}
			if r := run.Capacity.LittlesLawRatio; r < 0.8 || r > 1.3 {
				t.Errorf("Little's law ratio %v, want about 1 (VUs wait on the server)", r)
			}
		})
	}
}

// The NDJSON stream of the same run must give the same figures as k6's own
// summary: counts exactly, percentiles within the sketch's 1%.
func TestNDJSONAgreesWithK6Summary(t *testing.T) {
	run, m := decodeRun(t, "k6/mixed.ndjson.gz"), doc(t, "k6/mixed-handle-summary.json")
	if run.Format != FormatNDJSON {
		t.Fatalf("format %q", run.Format)
	}
	all := run.Scenarios[0]
	exact := map[string][2]float64{
		"requests":   {all.Requests, num(t, m, "http_reqs", "count")},
		"failed":     {all.FailedRate, num(t, m, "http_req_failed", "rate")},
		"iterations": {all.Iterations, num(t, m, "iterations", "count")},
		"checks+":    {all.ChecksPassed, num(t, m, "checks", "passes")},
		"checks-":    {all.ChecksFailed, num(t, m, "checks", "fails")},
		"vus_max":    {all.VusMax, num(t, m, "vus_max", "max")},
	}
	for k, v := range exact {
		if v[0] != v[1] {
			t.Errorf("%s = %v, k6 summary says %v", k, v[0], v[1])
		}
	}
	approx := map[string][2]float64{
		"p50": {all.P50Ms, num(t, m, "http_req_duration", "med")},
		"p90": {all.P90Ms, num(t, m, "http_req_duration", "p(90)")},
		"p95": {all.P95Ms, num(t, m, "http_req_duration", "p(95)")},
		"p99": {all.P99Ms, num(t, m, "http_req_duration", "p(99)")},
		"rps": {all.Rps, num(t, m, "http_reqs", "rate")},
		// checkout is a real scenario in the stream, not only a submetric.
		"checkout p95": {run.Scenarios[2].P95Ms, num(t, m, "http_req_duration{scenario:checkout}", "p(95)")},
	}
	for k, v := range approx {
		if !near(v[0], v[1], 0.03) {
			t.Errorf("%s = %v, k6 summary says %v", k, v[0], v[1])
		}
	}
	names := []string{}
	for _, s := range run.Scenarios {
		names = append(names, s.Scenario)
	}
	if strings.Join(names, ",") != ",browse,checkout" {
		t.Errorf("scenarios %q, want the whole run, browse and checkout", names)
	}
	// The stream declares the thresholds of whole metrics only (k6 does not
	// write submetric thresholds to it); the collector evaluates them itself.
	got := map[string]bool{}
	for _, th := range run.Thresholds {
		got[th.Metric+" "+th.Expression] = th.Passed
	}
	want := map[string]bool{"http_req_duration p(95)<500": true, "http_req_failed rate<0.01": false, "checks rate>0.9": true}
	if len(got) != len(want) {
		t.Errorf("thresholds %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("threshold %s passed=%v, want %v", k, got[k], v)
		}
	}
}

// Acceptance 2: the stepped run against loadtarget (4 workers × 40 ms, so it
// saturates at 100 req/s) has its knee at that rate.
func TestSteppedRunKneeAtBuiltCapacity(t *testing.T) {
	run := decodeRun(t, "k6/stepped.ndjson.gz")
	const capacity = 100.0
	var vus []float64
	for _, s := range run.Steps {
		vus = append(vus, s.Vus)
		t.Logf("step vus=%v rps=%.1f p95=%.1fms err=%.3f dur=%vs", s.Vus, s.Rps, s.P95Ms, s.ErrorRate, s.DurationS)
	}
	if len(run.Steps) != 7 {
		t.Fatalf("steps at VUs %v, want the 7 levels 1,2,3,4,5,6,8", vus)
	}
	c := run.Capacity
	t.Logf("capacity: knee %.1f rps, Little's law ratio %.2f, saturated %v", c.KneeRps, c.LittlesLawRatio, c.GeneratorSaturated)
	if !near(c.KneeRps, capacity, 0.10) {
		t.Errorf("knee at %.1f req/s, want within 10%% of %v", c.KneeRps, capacity)
	}
	if c.GeneratorSaturated {
		t.Error("generator flagged as saturated: the server, not k6, was the limit")
	}
	if c.LittlesLawRatio < 0.8 || c.LittlesLawRatio > 1.25 {
		t.Errorf("Little's law ratio %v at the top step, want about 1", c.LittlesLawRatio)
	}
	// Past the knee throughput is flat and p95 grows with the queue.
	last := run.Steps[len(run.Steps)-1]
	if last.P95Ms < 1.5*run.Steps[0].P95Ms || !near(last.Rps, capacity, 0.1) {
		t.Errorf("top step %v: want flat throughput near %v and a longer p95 than the first step's %v", last, capacity, run.Steps[0].P95Ms)
	}
}

func TestEnvelopeFlagsASaturatedGenerator(t *testing.T) {
	// Throughput and latency stay put while VUs double: the VUs are busy in
	// the generator, not waiting on the system.
	var steps []step
	for _, vus := range []float64{10, 20, 40} {
		s := step{Step: &loadtestv1.Step{Vus: vus, DurationS: 10}, reqs: 1000 * min(vus, 20)}
		for range 100 {
			s.dur.Add(10)
		}
		s.Rps = s.reqs / 10
		steps = append(steps, s)
	}
	c := envelope(steps, testSteps)
	if !c.GeneratorSaturated || c.KneeRps != 2000 {
		t.Errorf("capacity %v: want saturated generator and knee at 2000 rps", c)
	}
}

func TestDecodeRejectsWhatIsNotK6(t *testing.T) {
	for name, body := range map[string]string{
		"empty":          "",
		"array":          "[1,2]",
		"no metrics":     `{"root_group": {}}`,
		"truncated":      `{"metrics": {"http_reqs": {"count": 1`,
		"bad metric":     `{"metrics": {"http_reqs": {"count": "many"}}}`,
		"ndjson garbage": "{\"type\":\"Point\",\"metric\":\"http_reqs\",\"data\":{\"time\":\"2026-01-01T00:00:00Z\",\"value\":1}}\n{\"type\":\"Point\",\"metric\":",
		"ndjson no time": "{\"type\":\"Point\",\"metric\":\"http_reqs\",\"data\":{\"value\":1}}\n",
		"ndjson empty":   "{\"type\":\"Metric\",\"data\":{\"name\":\"vus\",\"type\":\"gauge\"},\"metric\":\"vus\"}\n",
		"lighthouse":     `{"lighthouseVersion": "13.5.0", "audits": {}}`,
	} {
		_, _, err := DecodeLoadRun(bufio.NewReader(strings.NewReader(body)), "", testSteps)
		if err == nil {
			t.Errorf("%s: decoded without error", name)
			continue
		}
		if status := statusOf(err); status != 400 {
			t.Errorf("%s: status %d (%v), want 400", name, status, err)
		}
	}
}

// BenchmarkDecodeNDJSON is the decoder alone over a real k6 stream (the
// end-to-end figure with HTTP and JetStream is scripts/bench.d/60-load.sh).
func BenchmarkDecodeNDJSON(b *testing.B) {
	body := fixture(b, "k6/mixed.ndjson.gz")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeLoadRun(bufio.NewReader(bytes.NewReader(body)), "", testSteps); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStepsStayBounded(t *testing.T) {
	var in []step
	for i := range 2500 {
		s := step{Step: &loadtestv1.Step{StartUnixNano: int64(i) * 5e9, DurationS: 5, Vus: float64(1 + i)}, reqs: 500}
		s.Rps = 100
		s.dur.Add(10)
		in = append(in, s)
	}
	out := in
	for len(out) > maxSteps {
		out = halveSteps(out)
	}
	if len(out) != 625 || out[0].DurationS != 20 || out[0].Rps != 100 || out[0].Vus != 2.5 {
		t.Errorf("%d steps, first %v: want 625 steps of 20 s at 100 req/s, mean 2.5 VUs", len(out), out[0].Step)
	}
}
