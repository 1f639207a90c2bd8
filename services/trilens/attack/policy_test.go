package attack

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trilens/trilens/services/trilens/cli"
)

// A pull request edits the trilens.yaml in its checkout to allow the
// secrets it adds. With --policy=server the gate reads the policy the
// scorer runs with, and still fails; with the checkout's file it would pass.
func TestAttackPullRequestCannotLoosenItsOwnBudgets(t *testing.T) {
	r := newRig(t) // the server runs the built-in policy: no secrets allowed
	loose := filepath.Join(t.TempDir(), "trilens.yaml")
	if err := os.WriteFile(loose, []byte("version: 1\nsecurity:\n  secrets_allowed: 1000\n  no_new_critical: false\n  critical_max_age: 0s\n  high_max_age: 0s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gate := func(pol string) (int, string) {
		var out bytes.Buffer
		root := cli.NewRoot()
		root.SetArgs([]string{"gate", "--url", r.url, "--token", "acme-ingest", "--repo", "acme/pr", "--commit", "pr1", "--branch", "feature",
			"--all-lenses=false", "--policy", pol, "../../scancollector/testdata/reports/gitleaks.json"})
		root.SetOut(&out)
		root.SetErr(&out)
		return cli.ExitCode(root.Execute()), out.String()
	}
	if code, out := gate(loose); code != 0 {
		t.Fatalf("with the checkout's loosened policy the gate should pass (exit 0), got %d:\n%s", code, out)
	}
	code, out := gate("server")
	if code != cli.ExitBroken || !strings.Contains(strings.ToLower(out), "secret") {
		t.Fatalf("with --policy=server the gate must fail on the secrets (exit 1), got %d:\n%s", code, out)
	}
}
