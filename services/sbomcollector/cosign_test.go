package sbomcollector

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// cosign runs the real cosign CLI (installed by make deps) in dir, offline.
type cosign struct {
	t   *testing.T
	bin string
	dir string
}

func newCosign(t *testing.T) *cosign {
	t.Helper()
	bin := filepath.Join("..", "..", ".bin", "cosign")
	if _, err := os.Stat(bin); err != nil {
		p, err := exec.LookPath("cosign")
		if err != nil {
			t.Fatal("cosign not found in .bin or PATH: run make deps (scripts/deps.d/40-sbom.sh)")
		}
		bin = p
	} else if bin, err = filepath.Abs(bin); err != nil {
		t.Fatal(err)
	}
	return &cosign{t: t, bin: bin, dir: t.TempDir()}
}

func (c *cosign) run(args ...string) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=trilens-test", "COSIGN_YES=true")
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("cosign %v: %v\n%s", args, err, out)
	}
}

// keyPair makes prefix.key and prefix.pub and returns the public key PEM.
func (c *cosign) keyPair(prefix string) []byte {
	c.t.Helper()
	c.run("generate-key-pair", "--output-key-prefix", prefix)
	return c.read(prefix + ".pub")
}

func (c *cosign) write(name string, data []byte) string {
	c.t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		c.t.Fatal(err)
	}
	return name
}

func (c *cosign) read(name string) []byte {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// signBlob signs blob with key and returns the signature file's content in
// the requested format: "raw" (base64 signature), "legacy" (cosign's old
// bundle) or "bundle" (Sigstore bundle).
func (c *cosign) signBlob(key, blob, format string) []byte {
	c.t.Helper()
	out := blob + "." + format
	args := []string{"sign-blob", "--key", key + ".key", "--tlog-upload=false"}
	switch format {
	case "raw":
		args = append(args, "--output-signature", out)
	case "legacy":
		args = append(args, "--bundle", out)
	case "bundle":
		args = append(args, "--new-bundle-format", "--bundle", out)
	}
	c.run(append(args, blob)...)
	return c.read(out)
}

// attest attests blob with a predicate of type typ: "dsse" gives the bare
// envelope, "bundle" the Sigstore bundle.
func (c *cosign) attest(key, blob, predicate, typ, format string) []byte {
	c.t.Helper()
	out := blob + ".att." + format
	args := []string{"attest-blob", "--key", key + ".key", "--tlog-upload=false", "--predicate", predicate, "--type", typ}
	if format == "bundle" {
		args = append(args, "--new-bundle-format", "--bundle", out)
	} else {
		args = append(args, "--output-signature", out)
	}
	c.run(append(args, blob)...)
	return c.read(out)
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}
