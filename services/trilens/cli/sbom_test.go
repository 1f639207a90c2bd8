package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/collect/collecttest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	"github.com/trilens/trilens/services/sbomcollector"
)

// sbomStack is the SBOM collector and the scorer on a real NATS and
// ClickHouse; signers are the policy's trusted signers.
func sbomStack(t *testing.T, signers ...policy.Signer) (string, *store.Store) {
	t.Helper()
	st := chtest.Store(t)
	log := slog.New(slog.DiscardHandler)
	b := natstest.Bus(t)
	var ccfg sbomcollector.Config
	ccfg.RegisterFlags("", flag.NewFlagSet("c", flag.ContinueOnError))
	ccfg.MaxComponentsPerEvent = 20
	ccfg.Verify.Signers = signers
	coll, err := sbomcollector.New(ccfg, collect.Settings{Logger: log, Publisher: b, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	startScorer(t, b, st, nil)
	srv := collecttest.Serve(t, coll)
	return srv.URL, st
}

func sbomTestdata(p ...string) string {
	return filepath.Join(append([]string{"..", "..", "sbomcollector", "testdata"}, p...)...)
}

// waitRows waits until the scorer has stored want rows matching where.
func waitRows(t *testing.T, st *store.Store, table, where string, want uint64, args ...any) {
	t.Helper()
	var n uint64
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		q := fmt.Sprintf("SELECT count() FROM %s.%s FINAL WHERE %s", st.Database(), table, where)
		if err := st.Conn().QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
	}
	t.Fatalf("%s where %s: %d rows, want %d", table, where, n, want)
}

// TestSBOMCommandEndToEnd runs `trilens sbom` (syft in process) on the Go
// module and the npm project, and checks that the scorer stored as many
// components as the real syft CLI reported for them (testdata/sboms/counts.json).
func TestSBOMCommandEndToEnd(t *testing.T) {
	url, st := sbomStack(t)
	b, err := os.ReadFile(sbomTestdata("sboms", "counts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var counts map[string]uint64
	if err := json.Unmarshal(b, &counts); err != nil {
		t.Fatal(err)
	}
	for _, project := range []string{"gomod", "npm"} {
		code, out := runCLI("sbom", "--url", url, "--repo", "acme/shop", "--commit", "c0ffee", "--artifact", project, sbomTestdata("projects", project))
		if code != ExitPass || !strings.Contains(out, fmt.Sprintf("%d components", counts[project])) {
			t.Fatalf("trilens sbom %s: exit %d\n%s", project, code, out)
		}
		waitRows(t, st, "components", "artifact_name = ?", counts[project], project)
	}
	// The npm project pins everything through its lock file; its KPI is stored once the report is complete.
	waitRows(t, st, "kpi_points", "kpi = 'sbom_unpinned_dependencies' AND scope = 'npm' AND value = 0", 1)

	// submit sbom: the committed SPDX made by the syft CLI, under another artifact name.
	code, out := runCLI("submit", "sbom", "--url", url, "--repo", "acme/shop", "--artifact", "npm-spdx", sbomTestdata("sboms", "npm.spdx-2.3.json"))
	if code != ExitPass {
		t.Fatalf("submit sbom: exit %d\n%s", code, out)
	}
	waitRows(t, st, "components", "artifact_name = 'npm-spdx'", counts["npm"])

	// A bad document is a usage error naming the problem.
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI("submit", "sbom", "--url", url, bad); code != ExitUsage || !strings.Contains(out, "1.1") {
		t.Errorf("bad SBOM: exit %d\n%s", code, out)
	}
}

// TestSubmitAttestationWithCosign signs with the real cosign and submits
// the bundle through the CLI: a good signature is verified, one over
// another artifact is stored as unverified with its reason.
func TestSubmitAttestationWithCosign(t *testing.T) {
	cosign := filepath.Join("..", "..", "..", ".bin", "cosign")
	if _, err := os.Stat(cosign); err != nil {
		if cosign, err = exec.LookPath("cosign"); err != nil {
			t.Fatal("cosign not found in .bin or PATH: run make deps (scripts/deps.d/40-sbom.sh)")
		}
	}
	cosign, _ = filepath.Abs(cosign)
	dir := t.TempDir()
	run := func(args ...string) {
		cmd := exec.Command(cosign, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=trilens-test", "COSIGN_YES=true")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cosign %v: %v\n%s", args, err, out)
		}
	}
	for name, body := range map[string]string{"app": "app v1\n", "other": "other\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run("generate-key-pair")
	run("sign-blob", "--key", "cosign.key", "--tlog-upload=false", "--new-bundle-format", "--bundle", "app.sigstore.json", "app")

	bundle, key := filepath.Join(dir, "app.sigstore.json"), filepath.Join(dir, "cosign.pub")
	url, st := sbomStack(t, policy.Signer{Key: key})
	code, out := runCLI("submit", "attestation", "--url", url, "--repo", "acme/shop", "--key", key, "--artifact-file", filepath.Join(dir, "app"), bundle)
	if code != ExitPass || !strings.Contains(out, ": verified") {
		t.Fatalf("good signature: exit %d\n%s", code, out)
	}
	code, out = runCLI("submit", "attestation", "--url", url, "--repo", "acme/shop", "--key", key, "--artifact-file", filepath.Join(dir, "other"), bundle)
	if code != ExitPass || !strings.Contains(out, "NOT verified: bundle does not verify") {
		t.Fatalf("signature over another artifact: exit %d\n%s", code, out)
	}
	waitRows(t, st, "artifacts", "name = 'app' AND verified = 1", 1)
	waitRows(t, st, "artifacts", "name = 'other' AND verified = 0 AND verification_error != ''", 1)
	waitRows(t, st, "sbom_violations", "check = 'signature_unverified' AND artifact_name = 'other'", 1)
}
