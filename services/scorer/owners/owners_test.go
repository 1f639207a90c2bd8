package owners

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/trilens/trilens/pkg/policy"
)

// TestOwnerOf: the owner the evidence carries wins, then the file's owner
// (owners.rules paths before CODEOWNERS), the journey's, the service's,
// and "unowned" when nothing claims the gap (no default team).
func TestOwnerOf(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("CODEOWNERS", "/internal/pay/ @acme/payments\n*.tf @acme/platform\n/legacy/\n")
	pol, err := policy.Load(write("trilens.yaml", `
version: 1
services:
  - { name: checkout, owner: team-checkout }
journeys:
  - { name: pay, service: checkout, owner: team-pay, match: [{ http_route: /pay }] }
  - { name: browse, match: [{ http_route: /browse }] }
owners:
  codeowners: `+filepath.Join(dir, "CODEOWNERS")+`
  rules:
    - { team: team-search, paths: ["internal/search/**"], journeys: [browse] }
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		given, path, journey, service, want string
	}{
		{"team-given", "internal/pay/x.go", "pay", "checkout", "team-given"},
		{"", "internal/pay/x.go", "", "checkout", "acme/payments"},
		{"", "deploy/main.tf", "", "", "acme/platform"},
		{"", "internal/search/index/x.go", "", "checkout", "team-search"},
		{"", "", "pay", "checkout", "team-pay"},
		{"", "", "browse", "", "team-search"},
		{"", "", "", "checkout", "team-checkout"},
		{"", "legacy/old.go", "", "", Unowned},
		{"", "", "", "nobody", Unowned},
		{Unowned, "", "", "checkout", "team-checkout"},
	} {
		if got := Of(pol, tc.given, tc.path, tc.journey, tc.service); got != tc.want {
			t.Errorf("Of(%q, %q, %q, %q) = %q, want %q", tc.given, tc.path, tc.journey, tc.service, got, tc.want)
		}
	}
}
