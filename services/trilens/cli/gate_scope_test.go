package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// gosec run per Go module of this repository (real reports, one per module,
// each in its module's directory): gated together for one commit and again
// for the next with --scope-root=@dir, no module's report marks another's
// findings fixed; without the scope, they do.
func TestGatePerModuleReports(t *testing.T) {
	s := newScanStack(t, 1000)
	pol := writePolicy(t, gatePolicy)
	dir, err := filepath.Abs(filepath.Join("..", "..", "scancollector", "e2e", "testdata", "gosec-modules"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*", "gosec.sarif"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(dir, "services", "*", "gosec.sarif"))
	files = append(files, more...)
	if len(files) != 10 {
		t.Fatalf("%d reports, want 10: %v", len(files), files)
	}
	t.Chdir(dir) // @dir is relative to the working directory: the module's path
	for i, f := range files {
		files[i], _ = filepath.Rel(dir, f)
	}
	gate := func(repo, run string, scoped bool) map[string]int {
		t.Helper()
		args := append([]string{"gate", "--policy", pol, "--format", "json", "--pipeline-run", run},
			subject(s.url, repo, "main", "")...)
		if scoped {
			args = append(args, "--scope-root=@dir")
		}
		code, out := runCLI(append(args, files...)...)
		var res GateResult
		if err := json.NewDecoder(strings.NewReader(out)).Decode(&res); err != nil || code == ExitUsage {
			t.Fatalf("exit %d: %v\n%s", code, err, out)
		}
		got := map[string]int{}
		for _, f := range res.Findings {
			got[f.Status]++
		}
		return got
	}
	first := gate("modules", "1", true)
	if first["new"] < 100 || first["fixed"] != 0 || first["open"] != 0 {
		t.Fatalf("first commit: %v, want every finding new", first)
	}
	if next := gate("modules", "2", true); next["open"] != first["new"] || next["fixed"] != 0 || next["new"] != 0 {
		t.Fatalf("next commit: %v, want all %d findings still open, none fixed", next, first["new"])
	}
	gate("unscoped", "1", false)
	if next := gate("unscoped", "2", false); next["fixed"] == 0 {
		t.Fatalf("without the scope: %v, want the modules' reports to fix each other's findings", next)
	}
}
