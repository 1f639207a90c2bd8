package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/trilens/trilens/pkg/collect"
	"go.yaml.in/yaml/v3"
)

func TestTokenNewPrintsTheTokenOnceAndOnlyItsDigestForTheConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	cmd := NewRoot()
	cmd.SetArgs([]string{"token", "new", "--id", "ci-shop", "--tenant", "shop", "--role", "ingest"})
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	_, value, ok := strings.Cut(strings.TrimSpace(errOut.String()), "(shown once): ")
	if !ok || len(value) < 40 {
		t.Fatalf("no token on stderr: %q", errOut.String())
	}
	var toks []collect.Token
	if err := yaml.Unmarshal(out.Bytes(), &toks); err != nil || len(toks) != 1 {
		t.Fatalf("stdout is not one auth.tokens entry: %v\n%s", err, out.String())
	}
	if toks[0].SHA256 != collect.HashToken(value) || strings.Contains(out.String(), value) {
		t.Fatalf("the entry must hold the token's digest, never the token: %s", out.String())
	}
	if err := toks[0].Validate(); err != nil {
		t.Fatal(err)
	}
	cmd = NewRoot()
	cmd.SetArgs([]string{"token", "new", "--id", "x", "--tenant", "shop", "--role", "owner"})
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "role") {
		t.Fatalf("an unknown role must be refused, got %v", err)
	}
}
