package generate

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// testImage is a one-layer image holding this machine's Debian package
// database, which syft's dpkg cataloger reads in images.
func testImage(t *testing.T) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []string{"/var/lib/dpkg/status", "/etc/os-release"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: f[1:], Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestGenerateImages catalogues the same image as an OCI layout and as a
// docker archive, and checks the package count against the syft CLI's on
// the OCI layout.
func TestGenerateImages(t *testing.T) {
	img := testImage(t)
	dir := t.TempDir()
	ociDir := filepath.Join(dir, "oci")
	p, err := layout.Write(ociDir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "image.tar")
	ref, err := name.NewTag("trilens.test/dpkg:1.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(archive, ref, img); err != nil {
		t.Fatal(err)
	}
	want := syftCLICount(t, "oci-dir:"+ociDir)
	if want < 100 {
		t.Fatalf("syft CLI found only %d packages in the image", want)
	}
	for _, path := range []string{ociDir, archive} {
		var out bytes.Buffer
		res, err := Generate(context.Background(), path, &out, Options{Format: CycloneDXJSON})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if res.Source != "image" || res.Digest == "" || res.Packages != want {
			t.Errorf("%s: %+v, want an image with a digest and %d packages", path, res, want)
		}
	}
}

func TestGenerateRejects(t *testing.T) {
	if _, err := Generate(context.Background(), t.TempDir(), io.Discard, Options{Format: "xml"}); err == nil {
		t.Error("unknown format accepted")
	}
	if _, err := Generate(context.Background(), filepath.Join(t.TempDir(), "missing"), io.Discard, Options{}); err == nil {
		t.Error("missing path accepted")
	}
}

// syftCLICount runs the real syft CLI (installed by make deps) on a source.
func syftCLICount(t *testing.T, src string) int {
	t.Helper()
	bin := filepath.Join("..", "..", "..", ".bin", "syft")
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("syft"); err != nil {
			t.Fatal("syft not found in .bin or PATH: run make deps (scripts/deps.d/40-sbom.sh)")
		}
	}
	out, err := exec.Command(bin, "scan", src, "-q", "-o", "syft-json").Output()
	if err != nil {
		t.Fatalf("syft scan %s: %v", src, err)
	}
	var doc struct {
		Artifacts []json.RawMessage `json:"artifacts"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	return len(doc.Artifacts)
}

// TestGenerateDirectoryMatchesCLI catalogues the test projects (a Go module,
// whose go.mod syft's Go cataloger loads with `go list`, and npm projects)
// as a directory and checks the package count against the syft CLI's.
func TestGenerateDirectoryMatchesCLI(t *testing.T) {
	dir := filepath.Join("..", "testdata", "projects")
	want := syftCLICount(t, "dir:"+dir)
	if want < 10 {
		t.Fatalf("syft CLI found only %d packages in %s", want, dir)
	}
	res, err := Generate(context.Background(), dir, io.Discard, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != "directory" || res.Packages != want {
		t.Errorf("%s: %+v, want a directory with %d packages", dir, res, want)
	}
}

// TestCreateConfig checks the cataloguing configuration against the syft
// CLI's defaults, which the SBOM bench compares with: the same workers and
// cataloger selection, plus Go licences from the module cache.
func TestCreateConfig(t *testing.T) {
	cfg := createConfig(Options{})
	if cfg.Parallelism != 0 {
		t.Errorf("parallelism %d, want 0 (syft's 4×NumCPU, as the CLI)", cfg.Parallelism)
	}
	if sel := cfg.CatalogerSelection; len(sel.DefaultNamesOrTags)+len(sel.SubSelectTags)+len(sel.AddNames)+len(sel.RemoveNamesOrTags) != 0 {
		t.Errorf("cataloger selection %+v, want none: catalogers picked by the source's kind, as the CLI", sel)
	}
	if g := cfg.Packages.Golang; !g.SearchLocalModCacheLicenses || !g.UsePackagesLib || g.SearchRemoteLicenses {
		t.Errorf("Go cataloger %+v, want module cache licences and go list, no network", g)
	}
	if got := createConfig(Options{Parallelism: 3}).Parallelism; got != 3 {
		t.Errorf("Options.Parallelism 3 gave %d", got)
	}
}
