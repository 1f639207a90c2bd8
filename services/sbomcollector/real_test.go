package sbomcollector

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trilens/trilens/pkg/collect/collecttest"
	"github.com/trilens/trilens/pkg/natstest"
)

// TestRealSBOMs posts every SBOM of the real-file corpus (testdata/real,
// documents written by CycloneDX, Trivy, ScanCode and SPDX tools) and checks
// the components published against testdata/real/counts.json, which
// counts.sh computes from the files with jq and awk.
func TestRealSBOMs(t *testing.T) {
	var want map[string]int
	b, err := os.ReadFile(filepath.Join("testdata", "real", "counts.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "real", "sboms", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 || len(files) != len(want) {
		t.Fatalf("%d files in the corpus, %d in counts.json: run testdata/real/counts.sh", len(files), len(want))
	}
	bus := natstest.Bus(t)
	srv := startServer(t, bus, testConfig())
	seen := 0
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			n, ok := want[name]
			if !ok {
				t.Fatalf("counts.json has no count for %s", name)
			}
			doc := readCorpusFile(t, f)
			// The file name says what the document is: <name>.<cdx|spdx>-<version>.<ext>.
			_, kind, _ := strings.Cut(name, ".")
			format := FormatCycloneDX
			if strings.HasPrefix(kind, "spdx") {
				format = FormatSPDX
			}
			_, v, _ := strings.Cut(kind, "-")
			major, rest, _ := strings.Cut(v, ".")
			minor, _, _ := strings.Cut(rest, ".")
			version := major + "." + minor

			q := url.Values{"repo": {testRepo}, "commit": {testCommit}, "artifact": {name}}
			status, body := collecttest.Post(t, srv.URL+"/v1/sboms?"+q.Encode(), doc)
			if status != http.StatusAccepted {
				t.Fatalf("status %d: %s", status, body)
			}
			var resp SBOMResponse
			if err := json.Unmarshal(body, &resp); err != nil {
				t.Fatal(err)
			}
			rows := 0
			for _, ev := range natstest.Published(t, bus) {
				if ev.GetEnvelope().GetPart().GetReportId() != resp.ReportID {
					continue
				}
				s := ev.GetSbom()
				if s.GetFormat() != format || s.GetSpecVersion() != version {
					t.Errorf("event says %s %s, want %s %s", s.GetFormat(), s.GetSpecVersion(), format, version)
				}
				rows += len(s.GetComponents())
				for _, c := range s.GetComponents() {
					if c.GetName() == "" {
						t.Errorf("component without a name: %v", c)
					}
				}
			}
			if rows != n || resp.Rows != n {
				t.Errorf("published %d components (response %d), counts.json says %d", rows, resp.Rows, n)
			}
			seen++
		})
	}
	if seen != len(want) {
		t.Errorf("%d of %d corpus files passed", seen, len(want))
	}
}

// readCorpusFile reads a corpus file, decompressing the .gz ones (kept
// compressed to stay under 1 MB in the repository).
func readCorpusFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(path, ".gz") {
		return b
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRealSBOMRefusedWithReason posts a real document the collector cannot
// read: ScanCode's SPDX 2.1 tag-value output, whose files have no SPDXID
// (mandatory since SPDX 2.0). The answer names the problem.
func TestRealSBOMRefusedWithReason(t *testing.T) {
	srv := startServer(t, natstest.Bus(t), testConfig())
	doc := readCorpusFile(t, filepath.Join("testdata", "real", "refused", "scancode-tree.spdx-2.1.spdx"))
	q := url.Values{"repo": {testRepo}, "commit": {testCommit}, "artifact": {"scan"}}
	status, body := collecttest.Post(t, srv.URL+"/v1/sboms?"+q.Encode(), doc)
	if status != http.StatusBadRequest || !strings.Contains(string(body), "file with FileName ./scan/copy1.c does not have SPDX identifier") {
		t.Fatalf("status %d: %s", status, body)
	}
}
