package scancollector

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the decoders' output")

// fixtures are the reports under testdata/reports with the format each must be detected as.
var fixtures = map[string]string{
	"gosec.sarif":         FormatSARIF,
	"staticcheck.sarif":   FormatSARIF,
	"golangci-lint.sarif": FormatSARIF,
	"gitleaks.json":       FormatGitleaks,
	"gitleaks.sarif":      FormatSARIF,
	"govulncheck.json":    FormatGovulncheck,
	"grype.json":          FormatGrype,
	"zap.json":            FormatZAP,
	"trivy.json":          FormatTrivy,
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "reports", name))
	if err != nil {
		t.Fatalf("%v (see testdata/README.md for how fixtures are made)", err)
	}
	return b
}

func TestDecodeFixturesMatchGolden(t *testing.T) {
	for name, format := range fixtures {
		t.Run(name, func(t *testing.T) {
			doc := readFixture(t, name)
			got, err := Detect(doc[:min(len(doc), prefixSize)])
			if err != nil || got != format {
				t.Fatalf("Detect = %q, %v; want %q", got, err, format)
			}
			rep, err := Decode(format, bytes.NewReader(doc), 0)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if rep.Count() == 0 {
				t.Fatalf("no findings in %s", name)
			}
			for _, run := range rep.Runs {
				for _, f := range run.Findings {
					if f.Fingerprint == "" || f.RuleId == "" || f.Severity == scanv1.Severity_SEVERITY_UNSPECIFIED && format != FormatTrivy {
						t.Errorf("incomplete finding %v", f)
					}
				}
			}
			compareGolden(t, filepath.Join("testdata", "golden", name+".json"), rep)
		})
	}
}

// compareGolden compares the runs of rep, as FindingBatch protojson, with a golden file.
func compareGolden(t *testing.T, path string, rep *Report) {
	t.Helper()
	// Scanners do not always report in the same order: compare by fingerprint.
	var batches []*scanv1.FindingBatch
	for _, run := range rep.Runs {
		fs := slices.Clone(run.Findings)
		slices.SortFunc(fs, func(a, b *scanv1.Finding) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
		batches = append(batches, &scanv1.FindingBatch{Tool: run.Tool, ToolVersion: run.ToolVersion, Format: rep.Format, Findings: fs})
	}
	if *update {
		var parts []string
		for _, b := range batches {
			j, err := protojson.MarshalOptions{Multiline: true}.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, string(j))
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, []byte("["+strings.Join(parts, ",")+"]"), "", "  "); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(buf.Bytes(), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update)", err)
	}
	var want []json.RawMessage
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(batches) {
		t.Fatalf("%d runs, golden has %d", len(batches), len(want))
	}
	for i, w := range want {
		var wb scanv1.FindingBatch
		if err := protojson.Unmarshal(w, &wb); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&wb, batches[i]) {
			t.Errorf("run %d differs from %s (run with -update to accept):\ngot  %v\nwant %v", i, path, batches[i], &wb)
		}
	}
}

func TestFingerprintSurvivesLineShiftAndRerun(t *testing.T) {
	doc := readFixture(t, "gosec.sarif")
	a, err := Decode(FormatSARIF, bytes.NewReader(doc), 0)
	if err != nil {
		t.Fatal(err)
	}
	// Shift every line by 7 and drop the tool's own fingerprints: the
	// content-based identity must still give the same fingerprints.
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	for _, run := range m["runs"].([]any) {
		for _, r := range run.(map[string]any)["results"].([]any) {
			res := r.(map[string]any)
			delete(res, "partialFingerprints")
			for _, l := range res["locations"].([]any) {
				reg := l.(map[string]any)["physicalLocation"].(map[string]any)["region"].(map[string]any)
				reg["startLine"] = reg["startLine"].(float64) + 7
				if _, ok := reg["endLine"]; ok {
					reg["endLine"] = reg["endLine"].(float64) + 7
				}
			}
		}
	}
	shifted, _ := json.Marshal(m)
	b, err := Decode(FormatSARIF, bytes.NewReader(shifted), 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Decode(FormatSARIF, bytes.NewReader(shifted), 0)
	if err != nil {
		t.Fatal(err)
	}
	fa, fb, fc := fingerprints(a), fingerprints(b), fingerprints(c)
	if len(fb) != len(fa) || len(fb) == 0 {
		t.Fatalf("%d findings after the shift, %d before", len(fb), len(fa))
	}
	for i := range fb {
		if fb[i] != fc[i] {
			t.Fatalf("a re-run changed fingerprint %d", i)
		}
	}
	seen := map[string]bool{}
	for _, f := range fb {
		if seen[f] {
			t.Fatalf("duplicate fingerprint %s", f)
		}
		seen[f] = true
	}
	// Without partial fingerprints, the identity is path, rule and snippet or
	// message: line numbers take no part.
	b.Runs[0].Findings[0].StartLine = 1
	if fingerprints(b)[0] != fc[0] {
		t.Fatal("fingerprint depends on the line")
	}
}

func fingerprints(r *Report) []string {
	var out []string
	for _, run := range r.Runs {
		for _, f := range run.Findings {
			out = append(out, f.Fingerprint)
		}
	}
	return out
}

func TestGrypeMergesAliases(t *testing.T) {
	rep, err := Decode(FormatGrype, bytes.NewReader(readFixture(t, "grype.json")), 0)
	if err != nil {
		t.Fatal(err)
	}
	// Four matches; GHSA-4v7x-pqxf-cx7m and CVE-2023-45288 are one vulnerability.
	if n := rep.Count(); n != 3 {
		t.Fatalf("%d findings, want 3", n)
	}
	var merged *scanv1.Finding
	for _, f := range rep.Runs[0].Findings {
		if len(f.Aliases) > 0 && f.Aliases[0] == "CVE-2023-45288" {
			merged = f
		}
	}
	if merged == nil || strings.Join(merged.Aliases, ",") != "CVE-2023-45288,GHSA-4v7x-pqxf-cx7m" || merged.Severity != scanv1.Severity_SEVERITY_CRITICAL {
		t.Fatalf("merged finding = %v", merged)
	}
}

func TestDecodeErrorsNamePlace(t *testing.T) {
	for _, tc := range []struct {
		format, doc, want string
	}{
		{FormatSARIF, `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":1}]}]}`, "$.runs[0].results[0]"},
		{FormatSARIF, `{"version":"2.0.0","runs":[]}`, `want "2.1.0"`},
		{FormatSARIF, `{"version":"2.1.0","runs":[{"results":[]}]}`, "tool.driver.name"},
		{FormatTrivy, `{"SchemaVersion":2,"Results":[{"Vulnerabilities":[{"VulnerabilityID":"CVE-1"`, "unexpected EOF"},
		{FormatGitleaks, `[{"RuleID":"x"}] trailing`, "after the end of the document"},
		{FormatGovulncheck, `{"progress":{"message":"x"}}`, "config message"},
		{FormatZAP, `{"site":[{"alerts":[{"riskcode":"7"}]}]}`, "riskcode"},
		{FormatGrype, `{"matches":{}}`, "want an array"},
	} {
		_, err := Decode(tc.format, strings.NewReader(tc.doc), 0)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: err = %v, want it to mention %q", tc.format, tc.doc, err, tc.want)
		}
	}
}

func TestDetectRejectsUnknown(t *testing.T) {
	for _, doc := range []string{``, `<xml/>`, `{"foo":1}`, `42`} {
		if f, err := Detect([]byte(doc)); err == nil {
			t.Errorf("Detect(%q) = %q, want an error", doc, f)
		} else if !strings.Contains(err.Error(), "SARIF 2.1.0") && !strings.Contains(err.Error(), "give ?format=") {
			t.Errorf("Detect(%q): %v does not say what is expected", doc, err)
		}
	}
}

func TestMaxFindings(t *testing.T) {
	doc := readFixture(t, "zap.json")
	if _, err := Decode(FormatZAP, bytes.NewReader(doc), 2); !errors.Is(err, ErrTooManyFindings) {
		t.Fatalf("err = %v, want ErrTooManyFindings", err)
	}
}

func TestEventsStayUnderThePayloadLimit(t *testing.T) {
	rep := &Report{Format: FormatSARIF}
	run := rep.newRun("big", "1")
	for i := 0; i < 3000; i++ {
		run.addCode(&scanv1.Finding{RuleId: "R", Message: strings.Repeat("x", maxMessage), Severity: scanv1.Severity_SEVERITY_LOW}, strconv.Itoa(i))
	}
	evs := Events(rep, "t", "r", 2000, func(id string, p *eventv1.Producer) *eventv1.Envelope {
		return &eventv1.Envelope{EventId: id, Producer: p}
	})
	total := 0
	for i, ev := range evs {
		if n := proto.Size(ev); n > 600<<10 {
			t.Fatalf("event %d is %d bytes", i, n)
		}
		if ev.GetEnvelope().GetPart().GetIndex() != uint32(i) || ev.GetEnvelope().GetPart().GetCount() != uint32(len(evs)) {
			t.Fatalf("part %v", ev.GetEnvelope().GetPart())
		}
		total += len(ev.GetScan().GetFindings())
	}
	if total != 3000 || len(evs) < 6 {
		t.Fatalf("%d findings in %d events", total, len(evs))
	}
}

// GitHub code-scanning conventions: security-severity on the rule or the
// result, CWE tags, rules found by index in the driver or an extension, and
// results that come before their run's tool.
func TestSARIFGitHubConventions(t *testing.T) {
	doc := `{"version":"2.1.0","runs":[{
	  "results":[
	    {"ruleIndex":0,"message":{"text":"reflected XSS"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"file://web/h.go"},"region":{"startLine":7,"snippet":{"text":"w.Write(q)"}}}}],
	     "partialFingerprints":{"primaryLocationLineHash":"abc:1"}},
	    {"ruleId":"go/sql-injection","properties":{"security-severity":9.5},"message":{"text":"sql"}},
	    {"rule":{"index":0,"toolComponent":{"index":0}},"level":"note","message":{"text":"from the extension"}},
	    {"ruleId":"go/log","kind":"pass","message":{"text":"not a finding"}},
	    {"ruleId":"go/log","suppressions":[{"kind":"inSource"}],"message":{"text":"suppressed"}}
	  ],
	  "tool":{"driver":{"name":"CodeQL","semanticVersion":"2.20.1","rules":[
	      {"id":"go/reflected-xss","shortDescription":{"text":"Reflected cross-site scripting"},"helpUri":"https://codeql.github.com/xss",
	       "properties":{"security-severity":"6.1","tags":["security","external/cwe/cwe-079","external/cwe/cwe-116"]}},
	      {"id":"go/sql-injection","defaultConfiguration":{"level":"error"},"properties":{"security-severity":"8.8","tags":["external/cwe/cwe-089"]}}]},
	    "extensions":[{"name":"codeql/go-queries","rules":[{"id":"go/ext-rule","defaultConfiguration":{"level":"error"}}]}]}
	}]}`
	rep, err := Decode(FormatSARIF, strings.NewReader(doc), 0)
	if err != nil {
		t.Fatal(err)
	}
	run := rep.Runs[0]
	if run.Tool != "CodeQL" || run.ToolVersion != "2.20.1" || len(run.Findings) != 3 {
		t.Fatalf("run %s %s with %d findings", run.Tool, run.ToolVersion, len(run.Findings))
	}
	xss, sql, ext := run.Findings[0], run.Findings[1], run.Findings[2]
	if xss.RuleId != "go/reflected-xss" || xss.Severity != scanv1.Severity_SEVERITY_MEDIUM || xss.CvssScore != 6.1 ||
		strings.Join(xss.Cwes, ",") != "CWE-116,CWE-79" || xss.Path != "web/h.go" || xss.Title != "Reflected cross-site scripting" || xss.HelpUri == "" {
		t.Errorf("xss = %v", xss)
	}
	// The result's own security-severity wins over the rule's.
	if sql.Severity != scanv1.Severity_SEVERITY_CRITICAL || sql.CvssScore != 9.5 || strings.Join(sql.Cwes, ",") != "CWE-89" {
		t.Errorf("sql = %v", sql)
	}
	// A rule referenced in an extension; the result's level wins over the rule's default.
	if ext.RuleId != "go/ext-rule" || ext.Severity != scanv1.Severity_SEVERITY_LOW {
		t.Errorf("ext = %v", ext)
	}
}
