package loadcollector

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/trilens/trilens/pkg/collect"
	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
)

// Formats of k6 output the collector accepts.
const (
	FormatSummaryExport = "k6-summary-export"
	FormatHandleSummary = "k6-handle-summary"
	FormatNDJSON        = "k6-ndjson"
)

// summaryDoc is what both k6 end-of-test summaries share. --summary-export
// flattens each metric to its values plus {"expr": failed}; handleSummary
// data nests them as {"values": {...}, "thresholds": {"expr": {"ok": bool}}}.
type summaryDoc struct {
	Metrics map[string]json.RawMessage `json:"metrics"`
	State   *struct {
		TestRunDurationMs float64 `json:"testRunDurationMs"`
	} `json:"state"`
}

type handleSummaryMetric struct {
	Type       string                       `json:"type"`
	Values     map[string]float64           `json:"values"`
	Thresholds map[string]struct{ OK bool } `json:"thresholds"`
}

// metricFigures are one metric's summary values and threshold results.
type metricFigures struct {
	values     map[string]float64
	thresholds []*loadtestv1.Threshold
}

// decodeSummary reads a k6 end-of-test summary in either JSON shape. Summaries
// are small (one object per metric), so they are decoded whole.
func decodeSummary(r *bufio.Reader) (*loadtestv1.LoadRun, error) {
	var doc summaryDoc
	dec := json.NewDecoder(r)
	if err := dec.Decode(&doc); err != nil {
		return nil, bodyError(err, "k6 summary JSON")
	}
	if len(doc.Metrics) == 0 {
		return nil, collect.Errorf(http.StatusBadRequest, "metrics", "not a k6 summary: no metrics object (want --summary-export, handleSummary data or --out json output)")
	}
	format := FormatSummaryExport
	if doc.State != nil {
		format = FormatHandleSummary
	}
	figs := make(map[string]metricFigures, len(doc.Metrics))
	for name, raw := range doc.Metrics {
		f, err := decodeMetric(raw, format)
		if err != nil {
			return nil, collect.Errorf(http.StatusBadRequest, "metrics."+name, "%v", err)
		}
		for _, t := range f.thresholds {
			t.Metric = name
		}
		figs[name] = f
	}
	run := &loadtestv1.LoadRun{Format: format}
	run.Scenarios = append(run.Scenarios, summaryStats("", "", figs))
	for _, tags := range submetricTags(figs) {
		run.Scenarios = append(run.Scenarios, summaryStats(scenarioName(tags), "{"+tags+"}", figs))
	}
	for _, name := range sortedKeys(figs) {
		run.Thresholds = append(run.Thresholds, figs[name].thresholds...)
	}
	run.ThresholdsPassed = allPassed(run.Thresholds)
	switch whole := figs["http_reqs"].values; {
	case doc.State != nil && doc.State.TestRunDurationMs > 0:
		run.DurationS = doc.State.TestRunDurationMs / 1000
	case whole["rate"] > 0:
		// --summary-export drops the run's duration; the request counter keeps it as count/rate.
		run.DurationS = whole["count"] / whole["rate"]
	}
	run.Capacity = summaryCapacity(run.Scenarios[0], figs)
	return run, nil
}

func decodeMetric(raw json.RawMessage, format string) (metricFigures, error) {
	var f metricFigures
	if format == FormatHandleSummary {
		var m handleSummaryMetric
		if err := json.Unmarshal(raw, &m); err != nil {
			return f, err
		}
		f.values = m.Values
		for expr, res := range m.Thresholds {
			f.thresholds = append(f.thresholds, &loadtestv1.Threshold{Expression: expr, Passed: res.OK})
		}
	} else {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return f, err
		}
		f.values = make(map[string]float64, len(m))
		for k, v := range m {
			if k == "thresholds" {
				// --summary-export writes true for a threshold that FAILED.
				var failed map[string]bool
				if err := json.Unmarshal(v, &failed); err != nil {
					return f, fmt.Errorf("thresholds: %v", err)
				}
				for expr, bad := range failed {
					f.thresholds = append(f.thresholds, &loadtestv1.Threshold{Expression: expr, Passed: !bad})
				}
				continue
			}
			var x float64
			if err := json.Unmarshal(v, &x); err != nil {
				return f, fmt.Errorf("%s: want a number", k)
			}
			f.values[k] = x
		}
	}
	slices.SortFunc(f.thresholds, func(a, b *loadtestv1.Threshold) int { return strings.Compare(a.Expression, b.Expression) })
	return f, nil
}

// summaryStats gathers the figures of the metrics with the given tag suffix
// ("" for the whole run, "{scenario:checkout}" for a submetric). A figure the
// summary does not hold (k6's --summary-trend-stats decides which trend
// statistics it writes) is 0 and named in Absent.
func summaryStats(scenario, suffix string, figs map[string]metricFigures) *loadtestv1.ScenarioStats {
	s := &loadtestv1.ScenarioStats{Scenario: scenario}
	get := func(field string, dst *float64, metric string, keys ...string) {
		vals := figs[metric+suffix].values
		for _, k := range keys {
			if x, ok := vals[k]; ok {
				*dst = x
				return
			}
		}
		s.Absent = append(s.Absent, field)
	}
	get("requests", &s.Requests, "http_reqs", "count")
	get("rps", &s.Rps, "http_reqs", "rate")
	get("p50_ms", &s.P50Ms, "http_req_duration", "med", "p(50)")
	get("p90_ms", &s.P90Ms, "http_req_duration", "p(90)")
	get("p95_ms", &s.P95Ms, "http_req_duration", "p(95)")
	get("p99_ms", &s.P99Ms, "http_req_duration", "p(99)")
	get("failed_rate", &s.FailedRate, "http_req_failed", "rate", "value")
	get("iterations", &s.Iterations, "iterations", "count")
	var vusMax, vus float64
	get("vus_max", &vusMax, "vus_max", "max")
	if n := len(s.Absent); n > 0 && s.Absent[n-1] == "vus_max" {
		// vus_max is absent only when neither metric gives it.
		s.Absent = s.Absent[:n-1]
		get("vus_max", &vus, "vus", "max")
	}
	s.VusMax = max(vusMax, vus)
	get("checks_passed", &s.ChecksPassed, "checks", "passes")
	get("checks_failed", &s.ChecksFailed, "checks", "fails")
	return s
}

// summaryCapacity applies Little's law to a one-level run: with constant VUs,
// VUs ≈ request rate × mean latency when the VUs spend their time waiting on
// the system. Summaries hold no time series, so there are no steps and no knee.
func summaryCapacity(all *loadtestv1.ScenarioStats, figs map[string]metricFigures) *loadtestv1.Capacity {
	c := &loadtestv1.Capacity{}
	lat := figs["http_req_duration"].values["avg"] / 1000
	if all.Rps > 0 && lat > 0 && all.VusMax > 0 {
		c.LittlesLawRatio = all.VusMax / (all.Rps * lat)
	}
	c.GeneratorSaturated = figs["dropped_iterations"].values["count"] > 0
	return c
}

func first(values map[string]float64, keys ...string) float64 {
	for _, k := range keys {
		if x, ok := values[k]; ok {
			return x
		}
	}
	return 0
}

// submetricTags lists the tag sets of per-scenario/tag submetrics, e.g.
// "scenario:checkout", leaving out k6's built-in expected_response split.
func submetricTags(figs map[string]metricFigures) []string {
	var out []string
	for name := range figs {
		i := strings.IndexByte(name, '{')
		if i < 0 || !strings.HasSuffix(name, "}") {
			continue
		}
		tags := name[i+1 : len(name)-1]
		if tags == "expected_response:true" || slices.Contains(out, tags) {
			continue
		}
		out = append(out, tags)
	}
	slices.Sort(out)
	return out
}

// scenarioName names a tag set: "scenario:checkout" is scenario "checkout";
// any other tag set keeps its "key:value" form.
func scenarioName(tags string) string {
	if s, ok := strings.CutPrefix(tags, "scenario:"); ok && !strings.Contains(s, ",") {
		return s
	}
	return tags
}

func allPassed(ts []*loadtestv1.Threshold) bool {
	for _, t := range ts {
		if !t.Passed {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
