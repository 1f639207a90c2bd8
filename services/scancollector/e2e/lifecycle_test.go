package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/services/scancollector"
)

// post sends a report with the query q and waits until the scorer has
// applied its lifecycle.
func (r *rig) post(t *testing.T, doc []byte, q url.Values) *scancollector.Accepted {
	t.Helper()
	resp, err := http.Post(r.url+"/v1/scans?"+q.Encode(), "application/octet-stream", bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/scans?%s: %d %s", q.Encode(), resp.StatusCode, out)
	}
	var acc scancollector.Accepted
	if err := json.Unmarshal(out, &acc); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for r.count(t, "SELECT count() FROM "+r.store.Database()+".scan_reports_scored FINAL WHERE report_id = ?", acc.ReportID) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("report %s not scored after a minute", acc.ReportID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &acc
}

func subject(repo, commit string, kv ...string) url.Values {
	q := url.Values{"repo": {repo}, "commit": {commit}, "branch": {"main"}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

func readReal(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "real", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vulnKeys are the CVE × package × version of a Grype or a legacy Trivy
// report, as the files list them (OS packages only: both tools place those
// at the image, whichever file they read them from).
func vulnKeys(t *testing.T, doc []byte, grype bool) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	if grype {
		var g struct {
			Matches []struct {
				Vulnerability struct{ ID string }
				Related       []struct{ ID string } `json:"relatedVulnerabilities"`
				Artifact      struct{ Name, Version, Type string }
			}
		}
		if err := json.Unmarshal(doc, &g); err != nil {
			t.Fatal(err)
		}
		for _, m := range g.Matches {
			ids := []string{m.Vulnerability.ID}
			for _, r := range m.Related {
				ids = append(ids, r.ID)
			}
			ids = slices.DeleteFunc(ids, func(s string) bool { return !strings.HasPrefix(s, "CVE-") })
			if m.Artifact.Type == "deb" && len(ids) > 0 {
				out[slices.Min(ids)+" "+m.Artifact.Name+" "+m.Artifact.Version] = true
			}
		}
		return out
	}
	var tr []struct {
		Vulnerabilities []struct{ VulnerabilityID, PkgName, InstalledVersion string }
	}
	if err := json.Unmarshal(doc, &tr); err != nil {
		t.Fatal(err)
	}
	for _, res := range tr {
		for _, v := range res.Vulnerabilities {
			out[v.VulnerabilityID+" "+v.PkgName+" "+v.InstalledVersion] = true
		}
	}
	return out
}

// states counts a repository's findings by state, and those with n sources.
func (r *rig) states(t *testing.T, repo string) map[string]uint64 {
	t.Helper()
	rows, err := r.store.Conn().Query(t.Context(), `SELECT state, length(sources), count() FROM `+r.store.Database()+
		`.finding_lifecycle FINAL WHERE repository = ? GROUP BY state, length(sources)`, repo)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var state string
		var sources uint64
		var n uint64
		if err := rows.Scan(&state, &sources, &n); err != nil {
			t.Fatal(err)
		}
		out[state] += n
		if state != "fixed" {
			out["sources="+string(rune('0'+sources))] += n
		}
	}
	return out
}

// A Grype and a Trivy report of the same image (DefectDojo's
// defectdojo-django:1.13.1 on Debian 10.8) give one finding per CVE ×
// package × version, with both tools as sources where both report it; the
// next reports without Trivy mark nothing fixed, and Trivy's own next,
// empty report fixes only what Trivy alone reported.
func TestGrypeAndTrivyGiveOneFindingPerProblem(t *testing.T) {
	r := newRig(t)
	const repo = "defectdojo/image"
	image := "defectdojo/defectdojo-django:1.13.1"
	grype, trivy := readReal(t, "grype/defectdojo-many_vulns3.json"), readReal(t, "trivy/defectdojo-legacy_many_vulns.json")
	gk, tk := vulnKeys(t, grype, true), vulnKeys(t, trivy, false)
	var shared []string
	for k := range tk {
		if gk[k] {
			shared = append(shared, k)
		}
	}
	both := len(shared)
	if both == 0 || both == len(tk) {
		t.Fatalf("the two reports share %d of Trivy's %d CVE × package × version: not a test of deduplication", both, len(tk))
	}
	var g struct{ Matches []json.RawMessage }
	if err := json.Unmarshal(grype, &g); err != nil {
		t.Fatal(err)
	}
	byGrype := r.post(t, grype, subject(repo, "c1")).ReportID
	byTrivy := r.post(t, trivy, subject(repo, "c1", "scope_target", image)).ReportID
	total := uint64(len(g.Matches) + len(tk) - both)
	got := r.states(t, repo)
	if got["new"] != total || got["sources=2"] != uint64(both) || got["fixed"] != 0 {
		t.Fatalf("states %v, want %d new findings (%d Grype + %d Trivy − %d both), %d with two sources", got, total,
			len(g.Matches), len(tk), both, both)
	}
	slices.Sort(shared)
	cve, pkg, _ := strings.Cut(shared[0], " ")
	pkg, version, _ := strings.Cut(pkg, " ")
	var sources []string
	if err := r.store.Conn().QueryRow(t.Context(), `SELECT sources FROM `+r.store.Database()+`.finding_lifecycle FINAL
		WHERE repository = ? AND has(aliases, ?) AND package_name = ? AND installed_version = ?`, repo, cve, pkg, version).Scan(&sources); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sources, []string{"grype", "trivy"}) {
		t.Fatalf("%s has sources %v, want grype and trivy", shared[0], sources)
	}
	// The scorecard lists (and costs) each finding once, naming both sources
	// and both reports as its evidence.
	items := r.findings(t, repo)
	if uint64(len(items)) != total {
		t.Fatalf("GET /v1/findings lists %d findings, want %d", len(items), total)
	}
	listed := 0
	for _, it := range items {
		if strings.HasPrefix(it.Title, cve+" ") && strings.Contains(it.Title, " in "+pkg+"@"+version+" ") {
			listed++
			if !slices.Equal(it.Sources, []string{"grype", "trivy"}) || it.Risk.Money <= 0 && it.Risk.Score <= 0 ||
				len(it.EvidenceIDs) != 2 || !slices.Contains(it.EvidenceIDs, byGrype) || !slices.Contains(it.EvidenceIDs, byTrivy) {
				t.Fatalf("GET /v1/findings: %+v, want sources grype and trivy, their reports %s and %s, and a cost", it, byGrype, byTrivy)
			}
		}
	}
	if listed != 1 {
		t.Fatalf("GET /v1/findings lists %s %d times, want once", shared[0], listed)
	}

	// The next commit is scanned by Grype only: nothing is fixed.
	r.post(t, grype, subject(repo, "c2"))
	if got := r.states(t, repo); got["fixed"] != 0 || got["sources=2"] != uint64(both) {
		t.Fatalf("after Grype alone: states %v, want none fixed and %d with two sources", got, both)
	}
	// Trivy's next report of the image finds nothing: its findings that Grype
	// still reports stay open with Grype as their source; the others are fixed.
	r.post(t, readReal(t, "trivy/defectdojo-legacy_no_vuln.json"), subject(repo, "c3", "scope_target", image, "format", "trivy"))
	got = r.states(t, repo)
	if got["fixed"] != uint64(len(tk)-both) || got["sources=2"] != 0 || got["sources=1"] != uint64(len(g.Matches)) {
		t.Fatalf("after Trivy's empty report: states %v, want %d fixed (Trivy's alone), %d open with one source",
			got, len(tk)-both, len(g.Matches))
	}
}

// A run that failed (SpotBugs saying executionSuccessful: false) marks
// nothing fixed that it did not report; the same report of a run that
// succeeded does.
func TestFailedRunMarksNothingFixed(t *testing.T) {
	r := newRig(t)
	const repo = "spotbugs/failed"
	real := readReal(t, "sarif/defectdojo-spotbugs.sarif")
	var log map[string]any
	if err := json.Unmarshal(real, &log); err != nil {
		t.Fatal(err)
	}
	run := log["runs"].([]any)[0].(map[string]any)
	results := run["results"].([]any)
	inv := run["invocations"].([]any)[0].(map[string]any)
	variant := func(kept int, succeeded bool) []byte {
		run["results"], inv["executionSuccessful"] = results[:kept], succeeded
		b, err := json.Marshal(log)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	r.post(t, variant(len(results), true), subject(repo, "c1"))
	all := r.states(t, repo)["new"]
	r.post(t, variant(10, false), subject(repo, "c2"))
	if got := r.states(t, repo); got["fixed"] != 0 || got["open"]+got["new"] != all {
		t.Fatalf("after a failed run with 10 of %d results: states %v, want none fixed", len(results), got)
	}
	r.post(t, variant(10, true), subject(repo, "c3"))
	if got := r.states(t, repo); got["fixed"] == 0 || got["fixed"]+got["open"] != all {
		t.Fatalf("after a successful run with 10 of %d results: states %v, want the rest of %d fixed", len(results), got, all)
	}
}

// gosec run per Go module of this repository (eight modules with findings,
// two without), each report with its module as scope root as the CLI's
// --scope-root=@dir sends it: for one commit and for the next, no module's
// report marks another's findings fixed. The same reports without their
// scope do, which is what the scope is for.
func TestPerModuleReportsMarkNothingFixed(t *testing.T) {
	r := newRig(t)
	dir := filepath.Join("testdata", "gosec-modules")
	var modules []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "gosec.sarif" {
			rel, _ := filepath.Rel(dir, filepath.Dir(p))
			modules = append(modules, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil || len(modules) != 10 {
		t.Fatalf("modules %v: %v", modules, err)
	}
	submit := func(repo, commit string, scoped bool) (total uint64) {
		for _, m := range modules {
			doc, err := os.ReadFile(filepath.Join(dir, m, "gosec.sarif"))
			if err != nil {
				t.Fatal(err)
			}
			q := subject(repo, commit, "name", "gosec.sarif")
			if scoped {
				q.Set("scope_root", m)
			}
			total += uint64(r.post(t, doc, q).Rows)
		}
		return total
	}
	total := submit("trilens/scoped", "c1", true)
	if got := r.states(t, "trilens/scoped"); got["new"] != total || got["fixed"] != 0 || total < 100 {
		t.Fatalf("after one commit: states %v, want all %d findings new, none fixed", got, total)
	}
	submit("trilens/scoped", "c2", true)
	if got := r.states(t, "trilens/scoped"); got["open"] != total || got["fixed"] != 0 {
		t.Fatalf("after the next commit: states %v, want all %d findings open, none fixed", got, total)
	}

	submit("trilens/unscoped", "c1", false)
	if got := r.states(t, "trilens/unscoped"); got["fixed"] == 0 {
		t.Fatalf("unscoped reports: states %v, want the modules to fix each other's findings", got)
	}
}

// govulncheck's symbol-level findings (a call reaches the vulnerable code)
// keep their likelihood on the scorecard; its import- and module-level ones
// are scaled down (scorecard.UnreachableFactor). The report is a real one
// (DefectDojo's govulncheck test data) with both kinds, and every CVE it
// names has the same EPSS score, so reachability alone tells them apart.
func TestReachabilityLowersLikelihood(t *testing.T) {
	r := newRig(t)
	doc := readReal(t, "govulncheck/defectdojo-issue_14642.json")
	// called: the OSV ids a call reaches, and their aliases (titles name the first alias).
	called, cves, aliases := map[string]bool{}, map[string]bool{}, map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(doc))
	for dec.More() {
		var msg struct {
			OSV *struct {
				ID      string   `json:"id"`
				Aliases []string `json:"aliases"`
			} `json:"osv"`
			Finding *struct {
				OSV   string `json:"osv"`
				Trace []struct {
					Function string `json:"function"`
				} `json:"trace"`
			} `json:"finding"`
		}
		if err := dec.Decode(&msg); err != nil {
			t.Fatal(err)
		}
		if msg.OSV != nil {
			aliases[msg.OSV.ID] = msg.OSV.Aliases
			for _, a := range msg.OSV.Aliases {
				cves[a] = strings.HasPrefix(a, "CVE-")
			}
		}
		if f := msg.Finding; f != nil && len(f.Trace) > 0 && f.Trace[0].Function != "" {
			called[f.OSV] = true
		}
	}
	for id := range called {
		for _, a := range aliases[id] {
			called[a] = true
		}
	}
	epss := "#model_version:v2025.03.14,score_date:2026-11-20T00:00:00+0000\ncve,epss,percentile\n"
	for cve, ok := range cves {
		if ok {
			epss += cve + ",0.5,0.9\n"
		}
	}
	resp, err := http.Post(r.url+"/v1/scan/catalogs/epss", "text/csv", strings.NewReader(epss))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("load EPSS: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	r.post(t, doc, subject("reach/app", "c1"))

	seen := map[string]int{}
	for _, it := range r.findings(t, "reach/app") {
		osv := strings.Fields(it.Title)[0]
		want, reach := 0.5, "called"
		if !called[osv] {
			want, reach = 0.1, "imported or required" // 0.5 × 0.2
		}
		if strings.Contains(reach, it.Reachability) == false || it.Risk.Likelihood != want {
			t.Errorf("%s: reachability %q, likelihood %v; want %s, %v", it.Title, it.Reachability, it.Risk.Likelihood, reach, want)
		}
		seen[it.Reachability]++
	}
	if seen["called"] == 0 || seen["imported"]+seen["required"] == 0 {
		t.Fatalf("findings by reachability %v: want both reachable and unreachable ones", seen)
	}
	t.Logf("findings by reachability: %v", seen)
}

// item is a finding as GET /v1/findings lists it.
type item struct {
	Key, Title, Reachability string
	Sources                  []string
	EvidenceIDs              []string `json:"evidence_ids"`
	Risk                     struct{ Likelihood, Money, Score float64 }
}

// findings are the security findings the scorecard lists for repo.
func (r *rig) findings(t *testing.T, repo string) []item {
	t.Helper()
	resp, err := http.Get(r.url + "/v1/findings?lens=security&kind=finding&limit=10000&repo=" + url.QueryEscape(repo))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Items []item }
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/findings: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Items
}
