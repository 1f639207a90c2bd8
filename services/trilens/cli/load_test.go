package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/services/loadcollector"
)

// loadCollector serves the real load collector, publishing to a real JetStream.
func loadCollector(t *testing.T) (string, *bus.Bus) {
	t.Helper()
	b := natstest.Bus(t)
	var cfg loadcollector.Config
	cfg.RegisterFlags("", flag.NewFlagSet("c", flag.ContinueOnError))
	cfg.StoreDocuments = false
	c, err := loadcollector.New(cfg, collect.Settings{Publisher: b, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); _ = b.Close() })
	return srv.URL, b
}

func gunzipFile(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadFixture(name string) string {
	return filepath.Join("..", "..", "loadcollector", "testdata", name)
}

func TestSubmitLoadAndWebVitals(t *testing.T) {
	url, b := loadCollector(t)
	// The CLI gzips what it reads: hand it the plain stream, as k6 writes it.
	dir := t.TempDir()
	plain := filepath.Join(dir, "run.ndjson")
	if err := os.WriteFile(plain, gunzipFile(t, loadFixture("k6/stepped.ndjson.gz")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"submit", "load", "--url", url, "--repo", "acme/shop", "--test", "steps", plain, loadFixture("k6/mixed-summary-export.json")},
			"k6-ndjson accepted"},
		{[]string{"submit", "webvitals", "--url", url, "--repo", "acme/shop", loadFixture("lighthouse/run1.json")},
			"lighthouse accepted"},
	} {
		root := NewRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(c.args)
		if err := root.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("%v: %v\n%s", c.args, err, out.String())
		}
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("%v printed %q, want %q", c.args, out.String(), c.want)
		}
	}
	st, err := b.JetStream().Stream(context.Background(), bus.StreamEvidence)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 {
		t.Errorf("%d events published, want 3 (two runs, one page)", info.State.Msgs)
	}
}

func TestSubmitLoadRejectedIsUsageError(t *testing.T) {
	url, _ := loadCollector(t)
	root := NewRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"submit", "load", "--url", url, loadFixture("lighthouse/run1.json")})
	err := root.ExecuteContext(context.Background())
	if ExitCode(err) != ExitUsage || err == nil || !strings.Contains(err.Error(), "not a k6 summary") {
		t.Errorf("err %v (exit %d), want a usage error naming the problem", err, ExitCode(err))
	}
}
