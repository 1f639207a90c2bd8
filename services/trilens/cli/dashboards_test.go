package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The generate command writes exactly the committed files.
func TestDashboardsGenerateWritesTheCommittedFiles(t *testing.T) {
	out := t.TempDir()
	root := NewRoot()
	var stdout bytes.Buffer
	root.SetOut(&stdout)
	root.SetArgs([]string{"dashboards", "generate", "--policy", "../../../trilens.yaml", "--out", out})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	var n int
	err := filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		rel, _ := filepath.Rel(out, path)
		got, _ := os.ReadFile(path)
		want, err := os.ReadFile(filepath.Join("../../..", rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from the committed file (%v)", rel, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 || !strings.Contains(stdout.String(), "wrote") {
		t.Fatalf("wrote %d files, output %q", n, stdout.String())
	}
}

func TestDashboardsPushNeedsAToken(t *testing.T) {
	t.Setenv(envGrafanaToken, "")
	root := NewRoot()
	root.SetArgs([]string{"dashboards", "push", "--grafana-url", "http://127.0.0.1:1", "--policy", "../../../trilens.yaml"})
	err := root.Execute()
	if ExitCode(err) != ExitUsage || err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("want a usage error about the token, got %v", err)
	}
}
