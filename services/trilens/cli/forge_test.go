package cli

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
	"github.com/trilens/trilens/pkg/policy"
)

// forgeServer implements the GitHub (under /api/v3, as GitHub Enterprise
// Server does) and GitLab (under /api/v4) routes the gate calls, answering
// with the documented example responses of testdata/forge and keeping
// what it was sent.
type forgeServer struct {
	t  *testing.T
	mu sync.Mutex
	// comments are the pull (merge) request's comments by id, in order.
	comments []forgeComment
	creates  int
	edits    int
	checks   []map[string]any // check run requests, or commit status requests
	sarifs   []forgeSARIF
}

type forgeComment struct {
	id   int64
	body string
}

type forgeSARIF struct {
	commit, ref string
	log         *sarif.Report
}

func newForgeServer(t *testing.T) (*forgeServer, *httptest.Server) {
	f := &forgeServer{t: t}
	mux := http.NewServeMux()
	const gh = "/api/v3/repos/octo/shop"
	mux.HandleFunc("GET "+gh+"/issues/7/comments", f.auth("Authorization", "Bearer ghs-test", f.listComments("github-issue-comment.json")))
	mux.HandleFunc("POST "+gh+"/issues/7/comments", f.auth("Authorization", "Bearer ghs-test", f.createComment("github-issue-comment.json")))
	mux.HandleFunc("PATCH "+gh+"/issues/comments/{id}", f.auth("Authorization", "Bearer ghs-test", f.editComment("github-issue-comment.json")))
	mux.HandleFunc("POST "+gh+"/check-runs", f.auth("Authorization", "Bearer ghs-test", f.check("github-check-run.json", http.StatusCreated)))
	mux.HandleFunc("POST "+gh+"/code-scanning/sarifs", f.auth("Authorization", "Bearer ghs-test", f.uploadSARIF))
	const gl = "/api/v4/projects/42"
	mux.HandleFunc("GET "+gl+"/merge_requests/3/notes", f.auth("Private-Token", "glpat-test", f.listComments("gitlab-note.json")))
	mux.HandleFunc("POST "+gl+"/merge_requests/3/notes", f.auth("Private-Token", "glpat-test", f.createComment("gitlab-note.json")))
	mux.HandleFunc("PUT "+gl+"/merge_requests/3/notes/{id}", f.auth("Private-Token", "glpat-test", f.editComment("gitlab-note.json")))
	mux.HandleFunc("POST "+gl+"/statuses/{sha}", f.auth("Private-Token", "glpat-test", f.check("gitlab-commit-status.json", http.StatusCreated)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("forge: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *forgeServer) auth(header, want string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get(header); got != want {
			f.t.Errorf("forge: %s %s with %s %q, want %q", r.Method, r.URL.Path, header, got, want)
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		h(w, r)
	}
}

// example is a documented response with fields replaced.
func (f *forgeServer) example(name string, set map[string]any) map[string]any {
	data, err := os.ReadFile(filepath.Join("testdata", "forge", name))
	if err != nil {
		f.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		f.t.Fatalf("%s: %v", name, err)
	}
	for k, v := range set {
		m[k] = v
	}
	return m
}

func (f *forgeServer) reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *forgeServer) decode(r *http.Request) map[string]any {
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		f.t.Errorf("forge: %s %s: unreadable body: %v", r.Method, r.URL.Path, err)
	}
	return m
}

func (f *forgeServer) listComments(example string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		out := []map[string]any{f.example(example, map[string]any{"id": 900, "body": "Looks good to me"})} // a reviewer's
		for _, c := range f.comments {
			out = append(out, f.example(example, map[string]any{"id": c.id, "body": c.body}))
		}
		f.reply(w, http.StatusOK, out)
	}
}

func (f *forgeServer) createComment(example string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := f.decode(r)["body"].(string)
		c := forgeComment{id: int64(1000 + len(f.comments)), body: body}
		f.comments = append(f.comments, c)
		f.creates++
		f.reply(w, http.StatusCreated, f.example(example, map[string]any{"id": c.id, "body": c.body}))
	}
}

func (f *forgeServer) editComment(example string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		body, _ := f.decode(r)["body"].(string)
		for i := range f.comments {
			if f.comments[i].id == id {
				f.comments[i].body = body
				f.edits++
				f.reply(w, http.StatusOK, f.example(example, map[string]any{"id": id, "body": body}))
				return
			}
		}
		f.reply(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	}
}

func (f *forgeServer) check(example string, code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := f.decode(r)
		if sha := r.PathValue("sha"); sha != "" {
			req["sha"] = sha
		}
		f.checks = append(f.checks, req)
		set := map[string]any{"id": len(f.checks)}
		for _, k := range []string{"name", "head_sha", "status", "conclusion", "sha", "description", "target_url"} {
			if v, ok := req[k]; ok {
				set[k] = v
			}
		}
		if st, ok := req["state"]; ok {
			set["status"] = st
		}
		f.reply(w, code, f.example(example, set))
	}
}

func (f *forgeServer) uploadSARIF(w http.ResponseWriter, r *http.Request) {
	req := f.decode(r)
	enc, _ := req["sarif"].(string)
	gz, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		f.reply(w, http.StatusBadRequest, map[string]string{"message": "sarif: not base64: " + err.Error()})
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		f.reply(w, http.StatusBadRequest, map[string]string{"message": "sarif: not gzip: " + err.Error()})
		return
	}
	raw, _ := io.ReadAll(zr)
	log, err := sarif.FromBytes(raw)
	if err != nil {
		f.reply(w, http.StatusBadRequest, map[string]string{"message": "sarif: " + err.Error()})
		return
	}
	commit, _ := req["commit_sha"].(string)
	ref, _ := req["ref"].(string)
	f.sarifs = append(f.sarifs, forgeSARIF{commit, ref, log})
	f.reply(w, http.StatusAccepted, f.example("github-sarif-receipt.json", nil))
}

func (f *forgeServer) snapshot() (comments []forgeComment, creates, edits int, checks []map[string]any, sarifs []forgeSARIF) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]forgeComment(nil), f.comments...), f.creates, f.edits, append([]map[string]any(nil), f.checks...), append([]forgeSARIF(nil), f.sarifs...)
}

// forgePolicy gives the service a revenue, so its gaps cost money.
const forgePolicy = gatePolicy + `services:
  - { name: shop, owner: team-shop, tier: 1, exposure: internet, revenue_per_hour: 10000 }
`

func newForgeStack(t *testing.T) (*scanStack, string) {
	pol, err := policy.Parse([]byte(forgePolicy), "forgePolicy")
	if err != nil {
		t.Fatal(err)
	}
	return newScanStackPolicy(t, 1000, pol), writePolicy(t, forgePolicy)
}

const headSHA = "3dca65fa3e8d4b3da3f3d056c59aee1c50f41390"

// TestGateGitHubPullRequest is acceptance 1 of issue 18 on GitHub: the
// first run comments, checks and uploads SARIF; the second edits the same
// comment; the exit code is the check's conclusion. The verdicts come from
// a real scorer, JetStream and ClickHouse.
func TestGateGitHubPullRequest(t *testing.T) {
	s, pol := newForgeStack(t)
	f, srv := newForgeServer(t)
	event := filepath.Join(t.TempDir(), "event.json")
	os.WriteFile(event, []byte(`{"action":"synchronize","number":7,"pull_request":{"number":7,"head":{"ref":"feature","sha":"`+headSHA+`"},"base":{"ref":"main"}}}`), 0o644)
	for k, v := range map[string]string{"GITHUB_TOKEN": "ghs-test", "GITHUB_REPOSITORY": "octo/shop", "GITHUB_API_URL": srv.URL + "/api/v3",
		"GITHUB_EVENT_PATH": event, "GITHUB_SERVER_URL": "https://github.example", "GITHUB_RUN_ID": "99", "GITHUB_REF": "refs/pull/7/merge"} {
		t.Setenv(k, v)
	}
	gate := func(run string, files ...string) (int, string) {
		args := append([]string{"gate", "--policy", pol, "--github", "--format", "markdown", "--pipeline-run", run, "--page-url", "https://trilens.example"},
			subject(s.url, "prgh", "feature", "main")...)
		return runCLI(append(args, files...)...)
	}
	if code, out := runCLI(append(append([]string{"submit", "scan", "--pipeline-run", "base"}, subject(s.url, "prgh", "main", "")...), scanFixture("gosec.sarif"))...); code != 0 {
		t.Fatalf("base: exit %d: %s", code, out)
	}

	// Run 1: the pull request adds grype's critical: the gate fails.
	code, out := gate("1", scanFixture("gosec.sarif"), scanFixture("grype.json"))
	comments, creates, edits, checks, sarifs := f.snapshot()
	if code != 1 || creates != 1 || edits != 0 || len(comments) != 1 || len(checks) != 1 || len(sarifs) != 1 {
		t.Fatalf("run 1: exit %d, %d comments created, %d edited, %d checks, %d SARIF uploads; want 1, 1, 0, 1, 1:\n%s", code, creates, edits, len(checks), len(sarifs), out)
	}
	body := comments[0].body
	t.Logf("run 1 comment:\n%s", body)
	for _, want := range []string{"<!-- trilens:gate service=shop -->\n", ":x: Trilens gate: FAIL · shop · against `main`", "#### New gaps (3)",
		"CVE-2023-45288 in golang.org/x/net (grype)", "**At risk: ", "(base `main`: ", "no_new_critical", "Still open (",
		"[Trilens page](https://trilens.example/service/shop)", "[CI run](https://github.example/octo/shop/actions/runs/99)"} {
		if !strings.Contains(body, want) {
			t.Errorf("run 1: comment lacks %q:\n%s", want, body)
		}
	}
	if !regexp.MustCompile(`\| security \| critical · CVE-2023-45288 in golang.org/x/net \(grype\) \| team-shop \| [1-9][0-9,]* USD \|`).MatchString(body) {
		t.Errorf("run 1: the new critical should name its owner and its cost:\n%s", body)
	}
	if strings.Index(body, "New gaps") > strings.Index(body, "Still open") {
		t.Errorf("run 1: new gaps must come first:\n%s", body)
	}
	if c := checks[0]; c["conclusion"] != "failure" || c["status"] != "completed" || c["head_sha"] != headSHA || c["name"] != "trilens" {
		t.Errorf("run 1: check run %v, want a completed failure on the head %s", c, headSHA)
	}
	// Every new or open finding of the gate is one SARIF result.
	var res GateResult
	_, js := runCLI(append(append([]string{"gate", "--policy", pol, "--format", "json", "--pipeline-run", "1"}, subject(s.url, "prgh", "feature", "main")...),
		scanFixture("gosec.sarif"), scanFixture("grype.json"))...)
	if err := json.NewDecoder(strings.NewReader(js)).Decode(&res); err != nil {
		t.Fatalf("gate json: %v\n%s", err, js)
	}
	present := 0
	for _, g := range res.Findings {
		if g.Status != "fixed" {
			present++
		}
	}
	up := sarifs[0]
	if up.commit != headSHA || up.ref != "refs/pull/7/head" || len(up.log.Runs) != 1 || len(up.log.Runs[0].Results) != present || present < 4 {
		t.Fatalf("run 1: SARIF for %s %s with %d results, want %s refs/pull/7/head with %d", up.commit, up.ref, len(up.log.Runs[0].Results), headSHA, present)
	}
	errors := 0
	for _, r := range up.log.Runs[0].Results {
		if r.PartialFingerprints["trilens/v1"] == "" || len(r.Locations) != 1 || r.Locations[0].PhysicalLocation.ArtifactLocation.URI == nil {
			t.Errorf("run 1: SARIF result %s lacks the fingerprint or its location", *r.RuleID)
		}
		if r.Level == "error" {
			errors++
		}
	}
	if errors == 0 {
		t.Error("run 1: no SARIF result is an error, though critical and high findings are present")
	}

	// Run 2: the critical is gone: the gate passes and edits the same comment.
	code, out = gate("2", scanFixture("gosec.sarif"))
	comments, creates, edits, checks, sarifs = f.snapshot()
	if code != 0 || creates != 1 || edits != 1 || len(comments) != 1 || len(checks) != 2 || len(sarifs) != 2 {
		t.Fatalf("run 2: exit %d, %d comments created, %d edited, %d checks, %d SARIF uploads; want 0, 1, 1, 2, 2:\n%s", code, creates, edits, len(checks), len(sarifs), out)
	}
	if !strings.Contains(comments[0].body, ":white_check_mark: Trilens gate: PASS") || strings.Contains(comments[0].body, "CVE-2023-45288") {
		t.Errorf("run 2: the comment should say PASS without the critical:\n%s", comments[0].body)
	}
	if checks[1]["conclusion"] != "success" {
		t.Errorf("run 2: check run %v, want success as exit 0", checks[1])
	}
}

// TestGateGitLabMergeRequest is the same scenario on GitLab: a note and a
// commit status.
func TestGateGitLabMergeRequest(t *testing.T) {
	s, pol := newForgeStack(t)
	f, srv := newForgeServer(t)
	for k, v := range map[string]string{"GITLAB_TOKEN": "glpat-test", "CI_API_V4_URL": srv.URL + "/api/v4", "CI_PROJECT_ID": "42",
		"CI_MERGE_REQUEST_IID": "3", "CI_COMMIT_SHA": headSHA, "CI_PIPELINE_URL": "https://gitlab.example/octo/shop/-/pipelines/5"} {
		t.Setenv(k, v)
	}
	gate := func(run string, files ...string) (int, string) {
		args := append([]string{"gate", "--policy", pol, "--gitlab", "--pipeline-run", run}, subject(s.url, "prgl", "feature", "main")...)
		return runCLI(append(args, files...)...)
	}
	if code, out := runCLI(append(append([]string{"submit", "scan", "--pipeline-run", "base"}, subject(s.url, "prgl", "main", "")...), scanFixture("gosec.sarif"))...); code != 0 {
		t.Fatalf("base: exit %d: %s", code, out)
	}
	for i, step := range []struct {
		files          []string
		code           int
		state, verdict string
	}{
		{[]string{scanFixture("gosec.sarif"), scanFixture("grype.json")}, 1, "failed", "FAIL"},
		{[]string{scanFixture("gosec.sarif")}, 0, "success", "PASS"},
	} {
		code, out := gate(fmt.Sprint(i+1), step.files...)
		comments, creates, edits, checks, sarifs := f.snapshot()
		if code != step.code || creates != 1 || edits != i || len(comments) != 1 || len(checks) != i+1 || len(sarifs) != 0 {
			t.Fatalf("run %d: exit %d, %d notes created, %d edited, %d statuses, %d SARIF; want %d, 1, %d, %d, 0:\n%s",
				i+1, code, creates, edits, len(checks), len(sarifs), step.code, i, i+1, out)
		}
		if st := checks[i]; st["state"] != step.state || st["sha"] != headSHA || st["name"] != "trilens" {
			t.Errorf("run %d: commit status %v, want %s on %s", i+1, st, step.state, headSHA)
		}
		if !strings.Contains(comments[0].body, "Trilens gate: "+step.verdict) || !strings.Contains(comments[0].body, "[CI run](https://gitlab.example/octo/shop/-/pipelines/5)") {
			t.Errorf("run %d: note:\n%s", i+1, comments[0].body)
		}
	}
}

func TestGateHelpTeachesPullRequests(t *testing.T) {
	code, out := runCLI("gate", "--help")
	for _, want := range []string{"--github", "--gitlab", "GITHUB_TOKEN", "checks: write", "security-events: write", "GITLAB_TOKEN", "hidden marker"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("gate --help (exit %d) lacks %q", code, want)
		}
	}
}

// TestGateGitHubWithoutTokenFailsFirst: --github without GITHUB_TOKEN is
// exit 2 before any report is submitted (the collector is not even reached).
func TestGateGitHubWithoutTokenFailsFirst(t *testing.T) {
	t.Setenv("GITHUB_TOKEN", "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the collector was called: %s %s", r.Method, r.URL.Path)
	}))
	defer srv.Close()
	code, out := runCLI("gate", "--github", "--url", srv.URL, "--repo", "r", "--branch", "b", scanFixture("gosec.sarif"))
	if code != ExitUsage || !strings.Contains(out, "--github: GITHUB_TOKEN is empty") {
		t.Fatalf("exit %d, want 2 naming the token:\n%s", code, out)
	}
}
