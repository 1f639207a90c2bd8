package scan

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// world is a branch's lifecycle that reports are applied to in memory, as
// apply does with the rows it reads and writes.
type world struct {
	st  *branchState
	now time.Time
	n   int
}

func newWorld() *world {
	return &world{st: &branchState{findings: map[string]*lifecycleRow{}, sources: map[string]*sourceRow{}},
		now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
}

// report applies one report of one run: findings are "key" (fingerprint = tool/key).
func (w *world) report(tool, scope string, failed bool, keys ...string) {
	w.n++
	w.now = w.now.Add(time.Minute)
	k := reportKey{"t", fmt.Sprint("r", w.n)}
	m := &reportMeta{observed: w.now, tools: []string{tool}, runs: []run{{tool: tool, scope: scope, failed: failed}}}
	var cur []lifecycleRow
	for _, key := range keys {
		cur = append(cur, lifecycleRow{Tool: tool, Scope: scope, Fingerprint: tool + "/" + key, Key: key, Severity: "high"})
	}
	changed := sourceTransitions(k, m, w.st.sources, cur)
	for _, r := range findingTransitions(k, m, w.st, cur, changed) {
		w.st.findings[r.Key] = &r
	}
}

// states prints key=state(sources) sorted.
func (w *world) states() string {
	var out []string
	for _, key := range slices.Sorted(maps.Keys(w.st.findings)) {
		f := w.st.findings[key]
		out = append(out, fmt.Sprintf("%s=%s(%s)", key, f.State, strings.Join(f.Sources, "+")))
	}
	return strings.Join(out, " ")
}

func TestTransitions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps func(w *world)
		want  string
	}{
		{"two tools, one problem", func(w *world) {
			w.report("grype", "target=img", false, "a", "b")
			w.report("trivy", "target=img", false, "a")
		}, "a=new(grype+trivy) b=new(grype)"},
		{"one tool drops it, the other still reports it", func(w *world) {
			w.report("grype", "target=img", false, "a", "b")
			w.report("trivy", "target=img", false, "a")
			w.report("trivy", "target=img", false)
		}, "a=new(grype) b=new(grype)"},
		{"both drop it", func(w *world) {
			w.report("grype", "", false, "a")
			w.report("trivy", "", false, "a")
			w.report("trivy", "", false)
			w.report("grype", "", false)
		}, "a=fixed(grype+trivy)"},
		{"the same tool again: open; back after a fix: reopened", func(w *world) {
			w.report("grype", "", false, "a", "b")
			w.report("grype", "", false, "a")
			w.report("grype", "", false, "a", "b")
		}, "a=open(grype) b=reopened(grype)"},
		{"per-module reports of one tool", func(w *world) {
			w.report("gosec", "root=pkg", false, "p1", "p2")
			w.report("gosec", "root=proto", false, "q1")
			w.report("gosec", "root=pkg", false, "p1", "p2")
		}, "p1=open(gosec) p2=open(gosec) q1=new(gosec)"},
		{"a failed run fixes nothing", func(w *world) {
			w.report("spotbugs", "", false, "a", "b")
			w.report("spotbugs", "", true, "a")
		}, "a=open(spotbugs) b=new(spotbugs)"},
		{"an unscoped report speaks for every scope of its tool", func(w *world) {
			w.report("gosec", "root=pkg", false, "p1")
			w.report("gosec", "root=proto", false, "q1")
			w.report("gosec", "", false, "q1")
		}, "p1=fixed(gosec) q1=new(gosec)"},
	} {
		w := newWorld()
		tc.steps(w)
		if got := w.states(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// A report older than what its run covers changes nothing.
func TestTransitionsIgnoreOlderReports(t *testing.T) {
	w := newWorld()
	w.report("grype", "", false, "a")
	m := &reportMeta{observed: w.now.Add(-time.Hour), runs: []run{{tool: "grype"}}}
	if changed := sourceTransitions(reportKey{"t", "old"}, m, w.st.sources, nil); len(changed) != 0 {
		t.Fatalf("an older empty report changed %d sources", len(changed))
	}
}
