package scancollector

//go:generate go run testdata/real/expect.go -dir testdata/real -out testdata/real/expected.json

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
)

// realExpectation mirrors testdata/real/expect.go's output.
type realExpectation struct {
	Format     string `json:"format"`
	Detectable bool   `json:"detectable"`
	Findings   int    `json:"findings"`
	Reachable  int    `json:"reachable"`
	Runs       int    `json:"runs"`
	FailedRuns int    `json:"failed_runs"`
}

func realCorpus(t testing.TB) map[string]*realExpectation {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "real", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Files map[string]*realExpectation `json:"files"`
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	return exp.Files
}

// readReal reads a report of the corpus, decompressed.
func readReal(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "real", name))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(name, ".gz") {
		return b
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if b, err = io.ReadAll(zr); err != nil {
		t.Fatal(err)
	}
	return b
}

// Every real report in testdata/real is detected as its format (or, empty,
// refused with a reason until ?format= names it) and decodes to the counts
// testdata/real/expect.go computed from the file itself.
func TestRealReportsDecodeToExpectedCounts(t *testing.T) {
	files := realCorpus(t)
	if len(files) == 0 {
		t.Fatal("empty corpus")
	}
	for name, want := range files {
		t.Run(name, func(t *testing.T) {
			doc := readReal(t, name)
			got, err := Detect(doc[:min(len(doc), prefixSize)])
			switch {
			case want.Detectable && (err != nil || got != want.Format):
				t.Fatalf("Detect = %q, %v; want %q", got, err, want.Format)
			case !want.Detectable && (err == nil || !strings.Contains(err.Error(), "give ?format=")):
				t.Fatalf("Detect of an empty report = %q, %v; want an error asking for ?format=", got, err)
			}
			rep, err := Decode(want.Format, bytes.NewReader(doc), 0)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			failed, reachable := 0, 0
			for _, run := range rep.Runs {
				if run.Failed {
					failed++
				}
				for _, f := range run.Findings {
					if f.Fingerprint == "" || f.RuleId == "" {
						t.Errorf("finding without fingerprint or rule: %v", f)
					}
					if f.Reachability == scanv1.Reachability_REACHABILITY_CALLED {
						reachable++
					}
				}
			}
			if rep.Count() != want.Findings || len(rep.Runs) != want.Runs || failed != want.FailedRuns || reachable != want.Reachable {
				t.Errorf("findings %d, runs %d, failed runs %d, reachable %d; want %d, %d, %d, %d",
					rep.Count(), len(rep.Runs), failed, reachable, want.Findings, want.Runs, want.FailedRuns, want.Reachable)
			}
		})
	}
}

// The corpus stays small and every file has its origin in sources.tsv (the
// README's table is made from it).
func TestRealCorpusHasOrigins(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "real", "sources.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("testdata", "real", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	origins := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		cols := strings.Split(line, "\t")
		if len(cols) < 5 || len(cols[3]) != 40 || cols[4] == "" {
			t.Errorf("sources.tsv: want file, repository, path, commit (40 hex) and licence: %q", line)
			continue
		}
		origins[cols[0]] = true
	}
	var total int64
	perFamily := map[string]int{}
	for name := range realCorpus(t) {
		fi, err := os.Stat(filepath.Join("testdata", "real", name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 1<<20 {
			t.Errorf("%s is %d bytes, want at most 1 MiB", name, fi.Size())
		}
		total += fi.Size()
		perFamily[filepath.Dir(name)]++
		if !origins[name] {
			t.Errorf("%s has no origin in sources.tsv", name)
		}
		if !bytes.Contains(readme, []byte(name)) {
			t.Errorf("%s is not in README.md", name)
		}
	}
	if total > 15<<20 {
		t.Errorf("corpus is %d bytes, want at most 15 MiB", total)
	}
	for _, f := range Formats {
		if perFamily[f] < 10 {
			t.Errorf("%d real %s reports, want at least 10", perFamily[f], f)
		}
	}
}
