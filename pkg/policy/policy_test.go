package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the decoded valid policies")

// TestValidFiles decodes each testdata/valid file and compares the policy
// with its golden JSON. Review the diff after -update: the golden files are
// the expected values.
func TestValidFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/valid files")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(data, filepath.Base(f))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := json.MarshalIndent(p, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata/golden", name+".json")
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update and review the file)", err)
			}
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
				t.Errorf("decoded policy differs from %s:\n%s", golden, got)
			}
		})
	}
}

// TestInvalidFiles checks that each testdata/invalid file fails with exactly
// the diagnostics its "# want:" lines list, in order.
func TestInvalidFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/invalid files")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, line := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					want = append(want, w)
				}
			}
			if len(want) == 0 {
				t.Fatal("no # want: line")
			}
			p, err := Parse(data, filepath.Base(f))
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", want)
			}
			if p != nil {
				t.Error("Parse returned a policy with its error")
			}
			got := diagnosticsOf(t, err)
			if len(got) != len(want) {
				t.Errorf("got %d problems, want %d:\n%v", len(got), len(want), err)
			}
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], want[i])
				}
			}
		})
	}
}

// diagnosticsOf splits a joined error and checks that each part is a *Diagnostic.
func diagnosticsOf(t *testing.T, err error) []string {
	t.Helper()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("want errors joined, got %T: %v", err, err)
	}
	var out []string
	for _, e := range joined.Unwrap() {
		var d *Diagnostic
		if !errors.As(e, &d) {
			t.Errorf("want *Diagnostic, got %T: %v", e, e)
		}
		out = append(out, e.Error())
	}
	return out
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestEmptyFileIsDefault: keys a file leaves out keep their defaults.
func TestEmptyFileIsDefault(t *testing.T) {
	p, err := Parse(nil, "empty.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(p)
	want, _ := json.Marshal(Default())
	if !bytes.Equal(got, want) {
		t.Errorf("empty file:\n got %s\nwant %s", got, want)
	}
}

// TestDemoPolicy loads the repository's trilens.yaml, which must validate
// and carry the numbers the demo and the docs quote.
func TestDemoPolicy(t *testing.T) {
	p, err := Load("../../trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateFile("../../trilens.yaml"); err != nil {
		t.Fatal(err)
	}
	if p.Tenant != "shop" {
		t.Errorf("tenant %q", p.Tenant)
	}
	for _, s := range []string{"checkout-api", "catalog", "payments"} {
		if _, ok := p.Service(s); !ok {
			t.Errorf("no service %s", s)
		}
	}
	j, ok := p.Journey("checkout")
	if !ok {
		t.Fatal("no checkout journey")
	}
	wantHops := Hops{CDN: 30, Edge: 40, API: 120, DB: 80, Margin: 30}
	if j.Tier != 1 || j.RevenuePerHour != 12000 || j.P95Ms != 300 || j.Hops == nil || *j.Hops != wantHops {
		t.Errorf("checkout journey: %+v hops %+v", j, j.Hops)
	}
	if _, ok := p.Journey("browse"); !ok {
		t.Error("no browse journey")
	}
	if len(p.Waivers) != 1 {
		t.Errorf("%d waivers, want 1", len(p.Waivers))
	}
	if w := p.Warnings(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)); len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
}

func TestLoadResolvesPathsAndReadsCodeowners(t *testing.T) {
	p, err := Load("testdata/codeowners/trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("testdata/codeowners", "kev.json"); p.Security.Catalogues.KEV != want {
		t.Errorf("kev catalogue %q, want %q", p.Security.Catalogues.KEV, want)
	}
	if p.Security.Catalogues.EPSS != "/abs/epss.csv" {
		t.Errorf("epss catalogue %q: absolute paths stay", p.Security.Catalogues.EPSS)
	}
	for file, want := range map[string]string{
		"services/web/main.go":     "acme/web", // the last matching line wins
		"services/web/ui/app.css":  "design",
		"docs/readme.md":           "docs-team@acme.example",
		"services/web/vendor/x.go": "platform", // a line without owners unowns it
		"tools/x.go":               "acme/go",  // *.go at any depth
		"Makefile":                 "platform",
		"deploy/k8s/app.yaml":      "ops", // rules in the policy win over CODEOWNERS
	} {
		if got := p.OwnerOfPath(file); got != want {
			t.Errorf("OwnerOfPath(%q) = %q, want %q", file, got, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	if err := ValidateFile("testdata/no-such-file.yaml"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	dir := t.TempDir()
	policy := filepath.Join(dir, "trilens.yaml")
	if err := os.WriteFile(policy, []byte("owners:\n  codeowners: CODEOWNERS\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := ValidateFile(policy)
	if err == nil || !strings.HasPrefix(err.Error(), policy+":2: owners.codeowners: ") {
		t.Errorf("missing CODEOWNERS: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "CODEOWNERS"), []byte("# owners\n*.go @a\n!x @b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = ValidateFile(policy)
	if err == nil || !strings.Contains(err.Error(), "line 3: pattern \"!x\"") {
		t.Errorf("bad CODEOWNERS line: %v", err)
	}
}

// TestProgrammaticPolicy: Validate works on policies built in code, without
// line numbers.
func TestProgrammaticPolicy(t *testing.T) {
	p := Default()
	p.Journeys = []Journey{{Name: "j", Tier: 1, P95Ms: 100, Hops: &Hops{API: 80, DB: 30}}}
	err := p.Validate()
	want := "journeys[0].hops: api 80 + db 30 = 110ms exceeds the journey's p95_ms 100ms"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, "90s": 90 * time.Second, "48h": 48 * time.Hour, "30d": 30 * day,
		"1d12h": 36 * time.Hour, "1h30m": 90 * time.Minute, "0d": 0,
	} {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "30", "-1h", "1d-2h", "2 days", "1w", "99999999999999999999d"} {
		if got, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseExpiry(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2026-12-31":                time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		"2026-12-31T18:00:00Z":      time.Date(2026, 12, 31, 18, 0, 0, 0, time.UTC),
		"2026-12-31T18:00:00+02:00": time.Date(2026, 12, 31, 16, 0, 0, 0, time.UTC),
	} {
		got, err := parseExpiry(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseExpiry(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"2026-13-01", "31/12/2026", "tomorrow", "2026-12-31 18:00"} {
		if _, err := parseExpiry(in); err == nil {
			t.Errorf("parseExpiry(%q): want an error", in)
		}
	}
}

// TestManyAliases: a document whose aliases multiply is cut off, not expanded.
func TestManyAliases(t *testing.T) {
	var b strings.Builder
	b.WriteString("a: &a {name: x}\nservices: [")
	for i := range maxNodes {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("*a")
	}
	b.WriteString("]\n")
	_, err := Parse([]byte(b.String()), "big.yaml")
	if err == nil || !strings.Contains(err.Error(), "document too large") {
		t.Errorf("got %.300v", err)
	}
}
