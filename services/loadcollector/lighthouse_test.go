package loadcollector

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var lighthouseRuns = []string{"lighthouse/run1.json", "lighthouse/run2.json", "lighthouse/run3.json"}

// lighthouseMedianIndex asks Lighthouse's own computeMedianRun (the npm
// package scripts/deps.d/60-load.sh installs) which run is the median.
func lighthouseMedianIndex(t *testing.T) int {
	t.Helper()
	mod, err := filepath.Abs("../../.cache/lighthouse/node_modules/lighthouse/core/lib/median-run.js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mod); err != nil {
		t.Fatalf("Lighthouse is not installed (%v): run make deps", err)
	}
	var paths []string
	for _, r := range lighthouseRuns {
		p, _ := filepath.Abs(filepath.Join("testdata", r))
		paths = append(paths, p)
	}
	script := `const fs = require('fs');
import(process.argv[1]).then(m => {
  const runs = process.argv.slice(2).map(p => JSON.parse(fs.readFileSync(p)));
  console.log(runs.indexOf(m.computeMedianRun(runs)));
});`
	out, err := exec.Command("node", append([]string{"-e", script, mod}, paths...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var i int
	if err := json.Unmarshal(bytes.TrimSpace(out), &i); err != nil || i < 0 {
		t.Fatalf("node printed %q", out)
	}
	return i
}

func TestLighthouseMedianRunMatchesLighthouse(t *testing.T) {
	var body []byte
	for _, r := range lighthouseRuns {
		body = append(body, fixture(t, r)...) // concatenated, as `cat run*.json` sends them
	}
	vs, runs, err := decodeLighthouse(bufio.NewReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	if runs != 3 || len(vs) != 1 || vs[0].Runs != 3 {
		t.Fatalf("runs %d, urls %d: want 3 runs of one URL", runs, len(vs))
	}
	// The stored figures are those of the run Lighthouse itself calls the median.
	var want struct {
		LighthouseVersion string `json:"lighthouseVersion"`
		FinalDisplayedURL string `json:"finalDisplayedUrl"`
		Categories        map[string]struct{ Score float64 }
		Audits            map[string]struct {
			NumericValue float64 `json:"numericValue"`
		}
	}
	if err := json.Unmarshal(fixture(t, lighthouseRuns[lighthouseMedianIndex(t)]), &want); err != nil {
		t.Fatal(err)
	}
	v := vs[0]
	for name, got := range map[string]float64{
		"largest-contentful-paint": v.LcpMs,
		"cumulative-layout-shift":  v.Cls,
		"total-blocking-time":      v.TbtMs,
		"server-response-time":     v.TtfbMs,
		"first-contentful-paint":   v.FcpMs,
		"speed-index":              v.SpeedIndexMs,
	} {
		if got != want.Audits[name].NumericValue {
			t.Errorf("%s = %v, median run says %v", name, got, want.Audits[name].NumericValue)
		}
	}
	if v.PerformanceScore != want.Categories["performance"].Score || v.Url != want.FinalDisplayedURL || v.LighthouseVersion != want.LighthouseVersion {
		t.Errorf("score/url/version = %v/%v/%v, want %v/%v/%v", v.PerformanceScore, v.Url, v.LighthouseVersion,
			want.Categories["performance"].Score, want.FinalDisplayedURL, want.LighthouseVersion)
	}
	if v.InpMs != 0 {
		t.Errorf("INP %v: a navigation report has none", v.InpMs)
	}

	// The same runs as a JSON array give the same answer.
	arr := "[" + strings.Join([]string{string(fixture(t, lighthouseRuns[0])), string(fixture(t, lighthouseRuns[1])), string(fixture(t, lighthouseRuns[2]))}, ",") + "]"
	vs2, _, err := decodeLighthouse(bufio.NewReader(strings.NewReader(arr)))
	if err != nil || vs2[0].LcpMs != v.LcpMs {
		t.Errorf("array form: %v, %v", vs2, err)
	}
}

func TestLighthouseRejectsOtherInput(t *testing.T) {
	for name, c := range map[string]struct {
		body   string
		status int
	}{
		"empty":      {"", 400},
		"k6 summary": {`{"metrics": {}}`, 400},
		"not json":   {"<html>", 400},
		"truncated":  {`{"lighthouseVersion": "13.5.0", "audits": {`, 400},
		"no fcp":     {`{"lighthouseVersion": "13.5.0", "requestedUrl": "http://x/", "runtimeError": {"code": "NO_FCP"}, "audits": {}}`, 422},
	} {
		_, _, err := decodeLighthouse(bufio.NewReader(strings.NewReader(c.body)))
		if err == nil || statusOf(err) != c.status {
			t.Errorf("%s: err %v (status %d), want status %d", name, err, statusOf(err), c.status)
		}
	}
}

// Timespan (user-flow) reports carry INP and no FCP/TTI: the run with the
// median INP is kept.
func TestLighthouseTimespanMedianINP(t *testing.T) {
	run := func(inp, tbt float64) string {
		return fmt.Sprintf(`{"lighthouseVersion":"13.5.0","gatherMode":"timespan","finalDisplayedUrl":"http://x/cart",
			"audits":{"interaction-to-next-paint":{"numericValue":%v},"total-blocking-time":{"numericValue":%v}}}`, inp, tbt)
	}
	body := run(320, 1) + run(180, 2) + run(240, 3)
	vs, _, err := decodeLighthouse(bufio.NewReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].InpMs != 240 || vs[0].TbtMs != 3 || vs[0].Runs != 3 {
		t.Errorf("got %v, want the 240 ms INP run of 3", vs)
	}
}

// Real user-flow reports: the stored INP is the median of the three runs'.
func TestLighthouseUserFlowINP(t *testing.T) {
	var body []byte
	var inps []float64
	for i := 1; i <= 3; i++ {
		b := fixture(t, fmt.Sprintf("lighthouse/flow%d.json", i))
		var r struct {
			Audits map[string]struct {
				NumericValue float64 `json:"numericValue"`
			}
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		inps = append(inps, r.Audits["interaction-to-next-paint"].NumericValue)
		body = append(body, b...)
	}
	vs, _, err := decodeLighthouse(bufio.NewReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(inps)
	if len(vs) != 1 || vs[0].InpMs != inps[1] || vs[0].InpMs < 300 {
		t.Errorf("got %v, want the median INP %v of %v (the click blocks for 300 ms)", vs, inps[1], inps)
	}
}
