package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// expectedSeverities counts a source document's findings by severity with
// the documented mapping, read straight from the document: what the
// pipeline must store.
func expectedSeverities(t *testing.T, format string, doc []byte) map[string]uint64 {
	t.Helper()
	rank := []string{"unspecified", "info", "low", "medium", "high", "critical"}
	worse := func(a, b string) string {
		if slices.Index(rank, b) > slices.Index(rank, a) {
			return b
		}
		return a
	}
	out := map[string]uint64{}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	switch format {
	case "sarif":
		var d struct {
			Runs []struct {
				Tool struct {
					Driver struct {
						Rules []struct {
							ID     string `json:"id"`
							Config struct {
								Level string `json:"level"`
							} `json:"defaultConfiguration"`
						} `json:"rules"`
					} `json:"driver"`
				} `json:"tool"`
				Results []struct {
					RuleID       string `json:"ruleId"`
					Level        string `json:"level"`
					Kind         string `json:"kind"`
					Suppressions []any  `json:"suppressions"`
				} `json:"results"`
			} `json:"runs"`
		}
		must(json.Unmarshal(doc, &d))
		levels := map[string]string{"error": "high", "warning": "medium", "note": "low", "none": "info"}
		for _, run := range d.Runs {
			def := map[string]string{}
			for _, r := range run.Tool.Driver.Rules {
				def[r.ID] = r.Config.Level
			}
			for _, r := range run.Results {
				if (r.Kind != "" && r.Kind != "fail") || len(r.Suppressions) > 0 {
					continue
				}
				l := cmpOr(r.Level, cmpOr(def[r.RuleID], "warning"))
				out[levels[l]]++
			}
		}
	case "trivy":
		var d struct {
			Results []struct {
				Vulnerabilities, Secrets []struct{ Severity string }
				Misconfigurations        []struct{ Severity, Status string }
			}
		}
		must(json.Unmarshal(doc, &d))
		sev := func(s string) string {
			if s = strings.ToLower(s); s == "unknown" {
				return "unspecified"
			}
			return s
		}
		for _, r := range d.Results {
			for _, v := range append(r.Vulnerabilities, r.Secrets...) {
				out[sev(v.Severity)]++
			}
			for _, m := range r.Misconfigurations {
				if m.Status == "FAIL" {
					out[sev(m.Severity)]++
				}
			}
		}
	case "grype":
		var d struct {
			Matches []struct {
				Vulnerability struct{ ID, Severity string }
				Related       []struct{ ID string } `json:"relatedVulnerabilities"`
				Artifact      struct{ Name string }
			}
		}
		must(json.Unmarshal(doc, &d))
		worst := map[string]string{}
		for _, m := range d.Matches {
			ids := []string{m.Vulnerability.ID}
			for _, r := range m.Related {
				ids = append(ids, r.ID)
			}
			slices.Sort(ids) // CVE-... sorts before GHSA-...
			key := m.Artifact.Name + " " + ids[0]
			worst[key] = worse(worst[key], strings.ToLower(m.Vulnerability.Severity))
		}
		for _, s := range worst {
			out[s]++
		}
	case "gitleaks":
		var d []any
		must(json.Unmarshal(doc, &d))
		out["high"] = uint64(len(d))
	case "govulncheck":
		worst := map[string]string{}
		dec := json.NewDecoder(strings.NewReader(string(doc)))
		for dec.More() {
			var m struct {
				Finding *struct {
					OSV   string `json:"osv"`
					Trace []struct{ Module, Package, Function string }
				} `json:"finding"`
			}
			must(dec.Decode(&m))
			if m.Finding == nil {
				continue
			}
			tr := m.Finding.Trace[0]
			s := "low"
			if tr.Function != "" {
				s = "high"
			} else if tr.Package != "" {
				s = "medium"
			}
			key := m.Finding.OSV + " " + tr.Module
			worst[key] = worse(worst[key], s)
		}
		for _, s := range worst {
			out[s]++
		}
	case "zap":
		var d struct {
			Site []struct {
				Alerts []struct {
					RiskCode  string `json:"riskcode"`
					Instances []any  `json:"instances"`
				} `json:"alerts"`
			} `json:"site"`
		}
		must(json.Unmarshal(doc, &d))
		risk := map[string]string{"3": "high", "2": "medium", "1": "low", "0": "info"}
		for _, s := range d.Site {
			for _, a := range s.Alerts {
				out[risk[a.RiskCode]] += uint64(len(a.Instances))
			}
		}
	default:
		t.Fatalf("no expectation for %s", format)
	}
	return out
}

// Every format goes HTTP -> collector -> JetStream -> scorer -> ClickHouse,
// and the stored findings count per severity as the source document does.
func TestEveryFormatEndToEnd(t *testing.T) {
	s := newScanStack(t, 3)
	for _, tc := range []struct{ file, format string }{
		{"gosec.sarif", "sarif"}, {"staticcheck.sarif", "sarif"}, {"golangci-lint.sarif", "sarif"}, {"gitleaks.sarif", "sarif"},
		{"trivy.json", "trivy"}, {"grype.json", "grype"}, {"gitleaks.json", "gitleaks"},
		{"govulncheck.json", "govulncheck"}, {"zap.json", "zap"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			doc, err := os.ReadFile(scanFixture(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			want := expectedSeverities(t, tc.format, doc)
			code, out := runCLI(append(append([]string{"submit", "scan"}, subject(s.url, "e2e-"+tc.file, "main", "")...), scanFixture(tc.file))...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, out)
			}
			id := strings.TrimSpace(out)
			ctx := context.Background()
			db := s.store.Database()
			deadline := time.Now().Add(time.Minute)
			for {
				var n uint64
				if err := s.store.Conn().QueryRow(ctx, `SELECT count() FROM `+db+`.scan_reports_scored FINAL WHERE report_id = ?`, id).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("report %s not scored after a minute", id)
				}
				time.Sleep(100 * time.Millisecond)
			}
			got := map[string]uint64{}
			rows, err := s.store.Conn().Query(ctx, `SELECT severity, count() FROM (SELECT DISTINCT fingerprint, tool, severity FROM `+db+
				`.scan_report_findings FINAL WHERE report_id = ?) GROUP BY severity`, id)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var sev string
				var n uint64
				if err := rows.Scan(&sev, &n); err != nil {
					t.Fatal(err)
				}
				got[sev] = n
			}
			rows.Close()
			if len(got) == 0 || len(got) != len(want) {
				t.Fatalf("stored %v, source has %v", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("stored %v, source has %v", got, want)
				}
			}
			// The lifecycle has every finding as new.
			var lc uint64
			total := uint64(0)
			for _, v := range want {
				total += v
			}
			if err := s.store.Conn().QueryRow(ctx, `SELECT count() FROM `+db+`.finding_lifecycle FINAL WHERE repository = ? AND state = 'new'`, "e2e-"+tc.file).Scan(&lc); err != nil {
				t.Fatal(err)
			}
			if lc != total {
				var states []string
				rows, _ := s.store.Conn().Query(ctx, `SELECT state, last_report_id, toString(report_at), toString(first_seen) FROM `+db+`.finding_lifecycle WHERE repository = ?`, "e2e-"+tc.file)
				for rows != nil && rows.Next() {
					var a, b, c, d string
					rows.Scan(&a, &b, &c, &d)
					states = append(states, a+" "+b+" "+c+" "+d)
				}
				t.Fatalf("%d new findings in the lifecycle, want %d (report %s): %v", lc, total, id, states)
			}
		})
	}
}

// BenchmarkScanEndToEnd submits SCANBENCH_SARIF (from scanbench -gen) with
// the CLI (gzip on the fly) and waits until the scorer has stored it and
// applied its lifecycle in ClickHouse: the whole path a CI report takes.
func BenchmarkScanEndToEnd(b *testing.B) {
	file := os.Getenv("SCANBENCH_SARIF")
	if file == "" {
		b.Fatal("set SCANBENCH_SARIF to a report from services/scancollector/cmd/scanbench -gen (scripts/bench.d/30-scan.sh does)")
	}
	s := newScanStack(b, 2000)
	ctx := context.Background()
	var findings uint64
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		code, out := runCLI(append(append([]string{"submit", "scan"}, subject(s.url, fmt.Sprint("bench-", i), "main", "")...), file)...)
		if code != 0 {
			b.Fatalf("exit %d: %s", code, out)
		}
		id := strings.TrimSpace(out)
		for {
			var n uint64
			if err := s.store.Conn().QueryRow(ctx, `SELECT count() FROM `+s.store.Database()+`.scan_reports_scored FINAL WHERE report_id = ?`, id).Scan(&n); err != nil {
				b.Fatal(err)
			}
			if n > 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		total += time.Since(start)
		if err := s.store.Conn().QueryRow(ctx, `SELECT count() FROM `+s.store.Database()+`.finding_lifecycle FINAL WHERE repository = ?`, fmt.Sprint("bench-", i)).Scan(&findings); err != nil {
			b.Fatal(err)
		}
	}
	secs := total.Seconds() / float64(b.N)
	b.ReportMetric(secs, "e2e_s")
	b.ReportMetric(float64(findings)/secs, "e2e_findings/s")
	b.ReportMetric(float64(findings), "findings")
}
