package scancollector

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
)

func decodeReal(t *testing.T, name string) *Report {
	t.Helper()
	rep, err := Decode(filepath.Dir(name), bytes.NewReader(readReal(t, name)), 0)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// Detection goes by the keys that identify each format, whatever the kind
// of document.
func TestDetectByIdentifyingKeys(t *testing.T) {
	for doc, want := range map[string]string{
		`[{"line":"x","offender":"AKIA","rule":"AWS Access Key","file":"a"}]`:                     FormatGitleaks,
		`[{"RuleID":"aws","File":"a"}]`:                                                           FormatGitleaks,
		`[{"Target":"debian (debian 10.8)","Type":"debian","Vulnerabilities":[]}]`:                FormatTrivy,
		`{"ClusterName":"kind","Resources":[]}`:                                                   FormatTrivy,
		`[{"config":{"scanner_name":"govulncheck"}},{"progress":{}}]`:                             FormatGovulncheck,
		"{\"config\":{}}\n{\"finding\":{}}\n":                                                     FormatGovulncheck,
		`{"Calls":{},"Imports":{},"Requires":{},"Vulns":null}`:                                    FormatGovulncheck,
		`[{"pluginId":"10050","risk":"Informational","url":"https://x","alert":"Cache"}]`:         FormatZAP,
		`{"alerts":[{"pluginId":"10050","risk":"Low"}]}`:                                          FormatZAP,
		"<!--\nSPDX-License-Identifier: Apache-2.0\n-->\n<?xml version=\"1.0\"?><OWASPZAPReport>": FormatZAP,
		"\ufeff{\"version\":\"2.1.0\",\"runs\":[]}":                                               FormatSARIF,
	} {
		if got, err := Detect([]byte(doc)); err != nil || got != want {
			t.Errorf("Detect(%.60q) = %q, %v; want %q", doc, got, err, want)
		}
	}
}

// When nothing matches, the error names every format tried and why.
func TestDetectExplainsEveryRejection(t *testing.T) {
	for _, doc := range []string{`[{"name":"x","severity":"LOW"}]`, `{"hello":1}`, `<html/>`, `[1,2]`, `null`, ``, `[]`} {
		_, err := Detect([]byte(doc))
		uf, ok := err.(*UnknownFormatError)
		if !ok {
			t.Fatalf("Detect(%q) = %v, want an *UnknownFormatError", doc, err)
		}
		if len(uf.Tried) != len(Formats) {
			t.Errorf("Detect(%q) tried %d formats, want %d", doc, len(uf.Tried), len(Formats))
		}
		for i, r := range uf.Tried {
			if r.Format != Formats[i] || r.Reason == "" {
				t.Errorf("Detect(%q): rejection %d = %+v", doc, i, r)
			}
		}
		if uf.Seen == "" || !strings.Contains(err.Error(), uf.Seen) {
			t.Errorf("Detect(%q): %v does not say what it saw", doc, err)
		}
	}
}

// Empty reports are complete reports with no findings: one event, so the
// scorer learns that the tool found nothing.
func TestEmptyReportsAreComplete(t *testing.T) {
	for _, format := range Formats {
		if format == FormatSARIF || format == FormatGrype {
			continue // their empty reports are objects (runs: [], matches: [])
		}
		for _, doc := range []string{``, `null`, `[]`, " \n"} {
			rep, err := Decode(format, strings.NewReader(doc), 0)
			if err != nil {
				t.Errorf("%s %q: %v", format, doc, err)
				continue
			}
			evs := Events(rep, "t", "r", 10, func(string, *eventv1.Producer) *eventv1.Envelope { return &eventv1.Envelope{} })
			if rep.Count() != 0 || len(evs) != 1 {
				t.Errorf("%s %q: %d findings, %d events; want 0 and 1", format, doc, rep.Count(), len(evs))
			}
		}
	}
}

// govulncheck 1.x streams read the same whether concatenated, one message a
// line, or wrapped in an array; reachability is the call level.
func TestGovulncheckStreamsAndReachability(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("testdata", "real", "govulncheck", "vuln-scan-source.json"))
	if err != nil {
		t.Fatal(err)
	}
	base, err := Decode(FormatGovulncheck, bytes.NewReader(doc), 0)
	if err != nil {
		t.Fatal(err)
	}
	// The same messages as an array and one per line.
	var msgs []string
	for rest := bytes.TrimSpace(doc); len(rest) > 0; {
		depth, i := 0, 0
		for ; i < len(rest); i++ {
			if rest[i] == '{' {
				depth++
			} else if rest[i] == '}' {
				if depth--; depth == 0 {
					break
				}
			}
		}
		msgs = append(msgs, strings.Join(strings.Fields(string(rest[:i+1])), " "))
		rest = bytes.TrimSpace(rest[i+1:])
	}
	for name, variant := range map[string]string{
		"array":    "[" + strings.Join(msgs, ",\n") + "]",
		"ndjson":   strings.Join(msgs, "\n") + "\n",
		"adjacent": strings.Join(msgs, ""),
	} {
		rep, err := Decode(FormatGovulncheck, strings.NewReader(variant), 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rep.Count() != base.Count() || rep.Count() == 0 {
			t.Errorf("%s: %d findings, want %d", name, rep.Count(), base.Count())
		}
	}
	levels := map[scanv1.Reachability]int{}
	for _, f := range base.Runs[0].Findings {
		levels[f.Reachability]++
		if f.Reachability == scanv1.Reachability_REACHABILITY_CALLED && f.Severity != scanv1.Severity_SEVERITY_HIGH {
			t.Errorf("called vulnerability %s is %v, want high", f.RuleId, f.Severity)
		}
	}
	if levels[scanv1.Reachability_REACHABILITY_CALLED] == 0 || levels[scanv1.Reachability_REACHABILITY_UNSPECIFIED] != 0 {
		t.Errorf("reachability levels %v: want called findings and none unspecified", levels)
	}
	// Before 1.0: a module-only vulnerability is not reachable.
	pre := decodeReal(t, "govulncheck/vuln-prev1-2023-json-2.json")
	for _, f := range pre.Runs[0].Findings {
		if f.PackageName == "github.com/tidwall/gjson" && f.Reachability == scanv1.Reachability_REACHABILITY_CALLED {
			t.Errorf("gjson is imported, never called, yet marked %v", f.Reachability)
		}
	}
}

// ZAP's XML report: a comment before the declaration, numbers as text,
// and a count above the instances it lists.
func TestZAPXMLReport(t *testing.T) {
	rep := decodeReal(t, "zap/defectdojo-juicy2.xml")
	run := rep.Runs[0]
	if run.Tool != "ZAP" || run.ToolVersion != "2.10.0" || run.Scope.Target != "https://juice-shop.herokuapp.com" {
		t.Errorf("run %s %s scope %v", run.Tool, run.ToolVersion, run.Scope)
	}
	counted := 0
	for _, f := range run.Findings {
		if strings.HasPrefix(f.Message, "ZAP counted ") {
			counted++
		}
		if f.Severity == scanv1.Severity_SEVERITY_UNSPECIFIED || f.Path == "" {
			t.Errorf("incomplete finding %v", f)
		}
	}
	if counted == 0 {
		t.Error("no finding says ZAP counted more instances than listed")
	}
	if c := decodeReal(t, "zap/securecodebox-af-nginx.xml"); c.Count() == 0 {
		t.Error("report with a leading comment decoded to nothing")
	}
	// Before 2.9 an alert held its one instance itself.
	old := `<?xml version="1.0"?><OWASPZAPReport version="2.7.0"><site name="http://a"><alerts><alertitem>` +
		`<pluginid>10016</pluginid><alert>X</alert><riskcode>1</riskcode><uri>http://a/b</uri><param>p</param></alertitem></alerts></site></OWASPZAPReport>`
	r, err := Decode(FormatZAP, strings.NewReader(old), 0)
	if err != nil || r.Count() != 1 || r.Runs[0].Findings[0].Path != "http://a/b" {
		t.Fatalf("pre-2.9 alert: %v %v", r, err)
	}
}

// ZAP API alert lists: each entry one instance; risk is a word.
func TestZAPAPIAlertList(t *testing.T) {
	doc := `[{"sourceid":"3","method":"GET","pluginId":"10050","cweid":"-1","confidence":"Medium","description":"Cached",` +
		`"url":"https://a/x.jpg","reference":"https://tools.ietf.org/html/rfc7234","alert":"Retrieved from Cache","param":"","name":"Retrieved from Cache","risk":"Informational","id":"861","alertRef":"10050-2"},` +
		`{"method":"GET","pluginId":"10038","cweid":"693","url":"https://a/","alert":"CSP Header Not Set","param":"","name":"CSP Header Not Set","risk":"Medium","alertRef":"10038-1"}]`
	for _, body := range []string{doc, `{"alerts":` + doc + `}`} {
		if f, err := Detect([]byte(body)); err != nil || f != FormatZAP {
			t.Fatalf("Detect = %q, %v", f, err)
		}
		rep, err := Decode(FormatZAP, strings.NewReader(body), 0)
		if err != nil {
			t.Fatal(err)
		}
		fs := rep.Runs[0].Findings
		if len(fs) != 2 || fs[0].RuleId != "10050-2" || fs[0].Severity != scanv1.Severity_SEVERITY_INFO ||
			fs[1].Severity != scanv1.Severity_SEVERITY_MEDIUM || fs[1].Cwes[0] != "CWE-693" {
			t.Errorf("findings %v", fs)
		}
	}
}

// gitleaks 7 and 8 give the same finding model.
func TestGitleaksVersions(t *testing.T) {
	v7 := decodeReal(t, "gitleaks/gitleaks7-test_local_repo_two_leaks.json").Runs[0]
	v8 := decodeReal(t, "gitleaks/gitleaks-json_simple.json").Runs[0]
	for _, f := range append(v7.Findings, v8.Findings...) {
		if f.RuleId == "" || f.Path == "" || f.StartLine == 0 || f.Category != scanv1.Category_CATEGORY_SECRET {
			t.Errorf("incomplete leak %v", f)
		}
		if strings.Contains(f.Message, "AKIA") || strings.Contains(f.Message, "a secret") {
			t.Errorf("message keeps the secret: %q", f.Message)
		}
	}
	if v7.Findings[0].RuleId != "AWS Access Key" || v7.Scope.Root != "test_repo_2" {
		t.Errorf("gitleaks 7: rule %q, scope %v", v7.Findings[0].RuleId, v7.Scope)
	}
}

// trivy k8s: one finding per resource and vulnerability, the resource in
// the location; a resource trivy could not scan fails the run.
func TestTrivyKubernetes(t *testing.T) {
	run := decodeReal(t, "trivy/defectdojo-kubernetes.json").Runs[0]
	perCVE := map[string]map[string]bool{}
	for _, f := range run.Findings {
		res, _, ok := strings.Cut(f.Path, ": ")
		if !ok || strings.Count(res, "/") != 2 {
			t.Fatalf("finding location %q does not name its resource", f.Path)
		}
		if perCVE[f.RuleId] == nil {
			perCVE[f.RuleId] = map[string]bool{}
		}
		perCVE[f.RuleId][res] = true
	}
	multi := 0
	for _, res := range perCVE {
		if len(res) > 1 {
			multi++
		}
	}
	if multi == 0 {
		t.Error("no vulnerability found in two resources became two findings")
	}
	if run.Failed || !strings.Contains(run.Scope.Target, "monitoring-test-cluster") {
		t.Errorf("failed %v, scope %v", run.Failed, run.Scope)
	}
	zora := decodeReal(t, "trivy/zora-k8s-report.json").Runs[0]
	if !zora.Failed || !strings.HasPrefix(zora.Error, "foo/Deployment/bar: scan error") {
		t.Errorf("a resource that failed to scan: failed %v, %q", zora.Failed, zora.Error)
	}
	legacy := decodeReal(t, "trivy/trivy-legacy-alpine-39.json")
	if legacy.Count() == 0 {
		t.Error("trivy before 0.20: no findings")
	}
}

// SARIF: what the run covered, and a run that did not complete.
func TestSARIFScopeAndFailure(t *testing.T) {
	spot := decodeReal(t, "sarif/defectdojo-spotbugs.sarif").Runs[0]
	if !spot.Failed {
		t.Error("SpotBugs run with executionSuccessful false is not marked failed")
	}
	doc := `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"CodeQL"}},"automationDetails":{"id":"/language:go/"},` +
		`"originalUriBaseIds":{"%SRCROOT%":{"uri":"file:///src/svc-a/"}},"invocations":[{"executionSuccessful":false,` +
		`"toolExecutionNotifications":[{"level":"error","message":{"text":"extractor crashed"}}]}],"results":[]}]}`
	rep, err := Decode(FormatSARIF, strings.NewReader(doc), 0)
	if err != nil {
		t.Fatal(err)
	}
	run := rep.Runs[0]
	want := &scanv1.ReportScope{Root: "file:///src/svc-a/", Language: "go", AutomationId: "/language:go/"}
	if run.Scope.String() != want.String() || !run.Failed || run.Error != "extractor crashed" {
		t.Errorf("scope %v failed %v %q; want %v, failed, extractor crashed", run.Scope, run.Failed, run.Error, want)
	}
	evs := Events(rep, "t", "r", 10, func(string, *eventv1.Producer) *eventv1.Envelope { return &eventv1.Envelope{} })
	b := evs[0].GetScan()
	if !b.RunFailed || b.RunError != "extractor crashed" || b.Scope.GetAutomationId() != "/language:go/" {
		t.Errorf("event batch %v does not carry the scope and failure", b)
	}
}

// A client names what a report covered when the tool does not (gosec run
// per module); every event of the report carries it.
func TestClientScopeReachesTheEvents(t *testing.T) {
	e := newEnv(t, nil)
	code, body := e.post(t, bytes.NewReader(readFixture(t, "gosec.sarif")), "repo=r&commit=c&branch=main&scope_root=services/scorer&scope_language=go", nil)
	if code != 202 {
		t.Fatalf("%d %s", code, body)
	}
	evs := e.events(t)
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	for _, ev := range evs {
		if s := ev.GetScan().GetScope(); s.GetRoot() != "services/scorer" || s.GetLanguage() != "go" {
			t.Errorf("event scope %v, want root services/scorer and language go", s)
		}
	}
	// staticcheck says where it ran.
	rep, err := Decode(FormatSARIF, bytes.NewReader(readFixture(t, "staticcheck.sarif")), 0)
	if err != nil {
		t.Fatal(err)
	}
	if root := rep.Runs[0].Scope.Root; !strings.Contains(root, "golang.org/x/net@v0.12.0") {
		t.Errorf("staticcheck root %q, want its working directory", root)
	}
}
