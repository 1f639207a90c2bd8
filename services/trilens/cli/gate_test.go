package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/collect/collecttest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	"github.com/trilens/trilens/services/scancollector"
	"github.com/trilens/trilens/services/scorer/scan"
)

// scanStack is the security lens end to end: the scan collector and the
// scorer on one HTTP server, a real JetStream and a real ClickHouse.
type scanStack struct {
	url   string
	store *store.Store
	// clock is the collectors' notion of now, so a test can submit a report
	// as if it were made days ago.
	mu    sync.Mutex
	clock time.Time
}

func (s *scanStack) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clock.IsZero() {
		return time.Now()
	}
	return s.clock
}

func (s *scanStack) setClock(t time.Time) {
	s.mu.Lock()
	s.clock = t
	s.mu.Unlock()
}

func newScanStack(t testing.TB, partSize int) *scanStack {
	t.Helper()
	return newScanStackPolicy(t, partSize, nil)
}

// newScanStackPolicy is newScanStack with the scorer running pol.
func newScanStackPolicy(t testing.TB, partSize int, pol *policy.Policy) *scanStack {
	t.Helper()
	st := chtest.Store(t) // TestMain (demo_test.go) runs the package's ClickHouse
	log := slog.New(slog.DiscardHandler)
	b := natstest.Bus(t)
	s := &scanStack{store: st}
	var ccfg scancollector.Config
	ccfg.RegisterFlags("", flag.NewFlagSet("c", flag.ContinueOnError))
	ccfg.PartSize = partSize
	coll, err := scancollector.New(ccfg, collect.Settings{Logger: log, Publisher: b, Registerer: prometheus.NewRegistry(), Now: s.now})
	if err != nil {
		t.Fatal(err)
	}
	srv := collecttest.Serve(t, coll, startScorer(t, b, st, pol))
	s.url = srv.URL
	return s
}

// runCLI runs the command line and returns its exit code and output.
func runCLI(args ...string) (int, string) {
	root := NewRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		fmt.Fprintln(&out, "error:", err)
	}
	return ExitCode(err), out.String()
}

func scanFixture(name string) string {
	return filepath.Join("..", "..", "scancollector", "testdata", "reports", name)
}

func writePolicy(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "trilens.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const gatePolicy = `version: 1
security:
  no_new_critical: true
  critical_max_age: 168h
  kev_max_age: 48h
  secrets_allowed: 0
`

// subject flags for a repository and branch.
func subject(url, repo, branch, base string) []string {
	return []string{"--url", url, "--tenant", "gate", "--repo", repo, "--commit", repo + "-" + branch, "--branch", branch, "--base-branch", base, "--service", "shop", "--quiet"}
}

func TestGate(t *testing.T) {
	s := newScanStack(t, 3) // several parts per report
	pol := writePolicy(t, gatePolicy)

	t.Run("submit scan prints report ids", func(t *testing.T) {
		code, out := runCLI(append([]string{"submit", "scan"}, append(subject(s.url, "ids", "main", ""), scanFixture("gosec.sarif"), scanFixture("zap.json"))...)...)
		if code != 0 || len(strings.Fields(out)) != 2 || len(strings.Fields(out)[0]) != 32 {
			t.Fatalf("exit %d: %s", code, out)
		}
	})

	t.Run("new critical fails", func(t *testing.T) {
		// On main itself gosec's findings are new, but none is critical: pass.
		if code, out := runCLI(append(append([]string{"gate", "--policy", pol}, subject(s.url, "newcrit", "main", "")...), scanFixture("gosec.sarif"))...); code != 0 {
			t.Fatalf("base gate: exit %d: %s", code, out)
		}
		code, out := runCLI(append(append([]string{"gate", "--policy", pol}, subject(s.url, "newcrit", "feature", "main")...), scanFixture("gosec.sarif"), scanFixture("grype.json"))...)
		if code != 1 || !strings.Contains(out, "no_new_critical: CVE-2023-45288 in golang.org/x/net (grype) is new and critical") {
			t.Fatalf("exit %d, want 1 naming the new critical:\n%s", code, out)
		}
		if strings.Contains(out, "G101") && !strings.Contains(out, "open") {
			t.Fatalf("gosec findings on the base should be still open:\n%s", out)
		}
	})

	t.Run("over-age critical fails and its fix passes", func(t *testing.T) {
		s.setClock(time.Now().Add(-10 * 24 * time.Hour))
		code, out := runCLI(append(append([]string{"submit", "scan"}, subject(s.url, "old", "main", "")...), scanFixture("grype.json"))...)
		s.setClock(time.Time{})
		if code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		code, out = runCLI(append(append([]string{"gate", "--policy", pol, "--format", "json"}, subject(s.url, "old", "feature", "main")...), scanFixture("grype.json"))...)
		var res GateResult
		if err := json.NewDecoder(strings.NewReader(out)).Decode(&res); err != nil {
			t.Fatalf("exit %d, unreadable JSON: %v\n%s", code, err, out)
		}
		if code != 1 || len(res.Violations) != 1 || res.Violations[0].Budget != "critical_max_age" {
			t.Fatalf("exit %d, violations %+v, want 1 critical_max_age", code, res.Violations)
		}
		// The feature branch upgrades the package: grype finds nothing; the critical is fixed.
		empty := filepath.Join(t.TempDir(), "grype-empty.json")
		os.WriteFile(empty, []byte(`{"matches":[],"descriptor":{"name":"grype","version":"0.120.1"}}`), 0o644)
		code, out = runCLI(append(append([]string{"gate", "--policy", pol, "--format", "markdown"}, subject(s.url, "old", "fixed", "main")...), empty)...)
		if code != 0 || !strings.Contains(out, "3 fixed") || !strings.Contains(out, "| fixed | critical | grype |") {
			t.Fatalf("exit %d, want 0 with the fixed findings listed:\n%s", code, out)
		}
	})

	t.Run("waived critical passes", func(t *testing.T) {
		doc, _ := os.ReadFile(scanFixture("grype.json"))
		rep, err := scancollector.Decode(scancollector.FormatGrype, bytes.NewReader(doc), 0)
		if err != nil {
			t.Fatal(err)
		}
		var waivers strings.Builder
		for _, f := range rep.Runs[0].Findings {
			fmt.Fprintf(&waivers, "  - id: W-%.6s\n    fingerprint: %s\n    owner: security@acme.test\n    reason: not reachable\n    expires: %s\n",
				f.Fingerprint, f.Fingerprint, time.Now().Add(30*24*time.Hour).UTC().Format(time.RFC3339))
		}
		waived := writePolicy(t, gatePolicy+"waivers:\n"+waivers.String())
		code, out := runCLI(append(append([]string{"gate", "--policy", waived}, subject(s.url, "waived", "feature", "main")...), scanFixture("grype.json"))...)
		if code != 0 || !strings.Contains(out, "waived: W-") {
			t.Fatalf("exit %d, want 0 with waived findings:\n%s", code, out)
		}
	})

	t.Run("gate by commit takes its latest reports", func(t *testing.T) {
		if code, out := runCLI(append(append([]string{"submit", "scan"}, subject(s.url, "bycommit", "feature", "main")...), scanFixture("zap.json"))...); code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		code, out := runCLI(append([]string{"gate", "--policy", pol}, subject(s.url, "bycommit", "feature", "main")...)...)
		if code != 0 || !strings.Contains(out, "Trilens gate: PASS. Security findings: 5 new, 0 fixed, 0 still open.") || !strings.Contains(out, "SQL Injection") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})

	t.Run("lifecycle over HTTP: resubmit, fix, reopen", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "grype-empty.json")
		os.WriteFile(empty, []byte(`{"matches":[],"descriptor":{"name":"grype","version":"0.120.1"}}`), 0o644)
		// Each pipeline run makes a new report; the same run and file are the same report.
		step := func(run, file string, offset time.Duration, want string) {
			t.Helper()
			s.setClock(time.Now().Add(offset))
			code, out := runCLI(append(append([]string{"gate", "--policy", pol, "--pipeline-run", run}, subject(s.url, "life", "main", "")...), file)...)
			s.setClock(time.Time{})
			if code == ExitUsage { // the budgets may break (a new critical); the gate must run
				t.Fatalf("exit %d: %s", code, out)
			}
			rows, err := s.store.Conn().Query(context.Background(), `SELECT state, count() FROM `+s.store.Database()+
				`.finding_lifecycle FINAL WHERE repository = 'life' GROUP BY state ORDER BY state`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var st string
				var n uint64
				rows.Scan(&st, &n)
				got = append(got, fmt.Sprintf("%s=%d", st, n))
			}
			if strings.Join(got, " ") != want {
				t.Fatalf("after %s: %v, want %s", filepath.Base(file), got, want)
			}
		}
		step("1", scanFixture("grype.json"), -3*time.Hour, "new=3")
		step("1", scanFixture("grype.json"), -3*time.Hour, "new=3") // the same report again: nothing changes
		step("2", empty, -2*time.Hour, "fixed=3")
		step("3", scanFixture("grype.json"), -time.Hour, "reopened=3")
		step("4", scanFixture("grype.json"), 0, "open=3")
	})

	t.Run("secrets fail", func(t *testing.T) {
		code, out := runCLI(append(append([]string{"gate", "--policy", pol}, subject(s.url, "secrets", "feature", "main")...), scanFixture("gitleaks.json"))...)
		if code != 1 || !strings.Contains(out, "secrets_allowed: 5 secrets found, 0 allowed") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})

	t.Run("kev over age fails", func(t *testing.T) {
		kev := filepath.Join(t.TempDir(), "kev.json")
		os.WriteFile(kev, []byte(`{"vulnerabilities":[{"cveID":"CVE-2023-39325","vendorProject":"golang","product":"http2","vulnerabilityName":"HTTP/2 Rapid Reset","dateAdded":"2023-10-10","dueDate":"2023-10-31","knownRansomwareCampaignUse":"Unknown"}]}`), 0o644)
		if code, out := runCLI("scan", "catalog", "kev", kev, "--url", s.url); code != 0 || !strings.Contains(out, "1 KEV entries loaded") {
			t.Fatalf("exit %d: %s", code, out)
		}
		s.setClock(time.Now().Add(-72 * time.Hour))
		code, out := runCLI(append(append([]string{"submit", "scan"}, subject(s.url, "kev", "main", "")...), scanFixture("govulncheck.json"))...)
		s.setClock(time.Time{})
		if code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		code, out = runCLI(append(append([]string{"gate", "--policy", pol}, subject(s.url, "kev", "feature", "main")...), scanFixture("govulncheck.json"))...)
		if code != 1 || !strings.Contains(out, "kev_max_age: CVE-2023-39325 in golang.org/x/net (govulncheck) is known exploited") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
}

func TestGateExitsTwoWhenTheCollectorIsUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // a port nothing listens on
	code, out := runCLI("gate", "--url", srv.URL, "--repo", "r", "--branch", "b", scanFixture("gosec.sarif"))
	if code != 2 || !strings.Contains(out, "unreachable") {
		t.Fatalf("exit %d, want 2:\n%s", code, out)
	}
}

func TestGateExitsTwoWhenNotScoredInTime(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/scorecard/scans", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(scan.Scorecard{Reports: []scan.Report{{ReportID: "r1", Parts: 1, PartCount: 2}}})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	code, out := runCLI("gate", "--url", srv.URL, "--report", "r1", "--wait", "1s")
	if code != 2 || !strings.Contains(out, "r1 (1 of 2 parts)") {
		t.Fatalf("exit %d, want 2:\n%s", code, out)
	}
}
