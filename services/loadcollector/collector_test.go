package loadcollector

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/collect/collecttest"

	"github.com/trilens/trilens/pkg/events/eventstest"
	"github.com/trilens/trilens/pkg/natstest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/collect"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

func testConfig() Config {
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags("", fs)
	return c
}

func startServer(t *testing.T, b *bus.Bus) *httptest.Server {
	t.Helper()
	fixed := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	c, err := New(testConfig(), collect.Settings{Publisher: b, Registerer: prometheus.NewRegistry(), Now: func() time.Time { return fixed }})
	if err != nil {
		t.Fatal(err)
	}
	return collecttest.Serve(t, c)
}

func TestPostPublishesEventsMatchingGolden(t *testing.T) {
	for _, tc := range []struct {
		golden, endpoint, query string
		files                   []string
		rows                    int
	}{
		{"mixed-summary-export.json", "loadruns", "test=checkout&repo=acme/shop&commit=abc123&branch=main&env=ci", []string{"k6/mixed-summary-export.json"}, 2},
		{"mixed-handle-summary.json", "loadruns", "repo=acme/shop", []string{"k6/mixed-handle-summary.json"}, 2},
		{"stepped-ndjson.json", "loadruns", "test=steps&repo=acme/shop&journey=checkout", []string{"k6/stepped.ndjson.gz"}, 2 + 7},
		{"lighthouse.json", "webvitals", "repo=acme/shop&journey=checkout", lighthouseRuns, 1},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			b := natstest.Bus(t)
			srv := startServer(t, b)
			var body []byte
			for _, f := range tc.files {
				body = append(body, fixture(t, f)...)
			}
			status, out := collecttest.Post(t, srv.URL+"/v1/"+tc.endpoint+"?"+tc.query, body)
			if status != http.StatusAccepted {
				t.Fatalf("status %d: %s", status, out)
			}
			var resp Response
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			evs := natstest.Published(t, b)
			if resp.Events != len(evs) || resp.Rows != tc.rows || len(resp.SHA256) != 64 || resp.Bytes != int64(len(body)) {
				t.Errorf("response %+v with %d events published, want %d rows, %d bytes", resp, len(evs), tc.rows, len(body))
			}
			for _, ev := range evs {
				if ev.Envelope.Document.GetSha256() != resp.SHA256 || ev.Envelope.Part.GetReportId() != resp.ReportID || resp.ReportID == resp.SHA256 {
					t.Errorf("event %s: document %v, part %v; want the body's sha256 %s and report %s", ev.Envelope.EventId, ev.Envelope.Document, ev.Envelope.Part, resp.SHA256, resp.ReportID)
				}
			}
			// The claim check holds the document byte for byte.
			rc, err := b.GetDocument(context.Background(), resp.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(stored, body) {
				t.Errorf("stored document is %d bytes, sent %d", len(stored), len(body))
			}
			eventstest.Golden(t, filepath.Join("testdata", "golden", tc.golden), evs, *update)

			// The same document again publishes nothing new: ids are deterministic.
			if status, out := collecttest.Post(t, srv.URL+"/v1/"+tc.endpoint+"?"+tc.query, body); status != http.StatusAccepted {
				t.Fatalf("resubmit: %d %s", status, out)
			}
			if again := natstest.Published(t, b); len(again) != len(evs) {
				t.Errorf("resubmitting stored %d events, want %d (duplicates dropped)", len(again), len(evs))
			}
		})
	}
}

func TestPostRejectsBadInputAndPublishesNothing(t *testing.T) {
	b := natstest.Bus(t)
	srv := startServer(t, b)
	stepped := fixture(t, "k6/stepped.ndjson.gz")
	cut := append(bytes.Clone(stepped[:len(stepped)/2]), []byte("{\"type\":\"Point\",\"metric\":\"http_reqs\",\"data\":{\"time\":\"x\"")...)
	for name, c := range map[string]struct {
		endpoint, query, body string
		status                int
		field                 string
	}{
		"lighthouse to loadruns": {"loadruns", "", string(fixture(t, lighthouseRuns[0])), 400, "metrics"},
		"k6 to webvitals":        {"webvitals", "", string(fixture(t, "k6/mixed-summary-export.json")), 400, "lighthouseVersion"},
		"bad env":                {"loadruns", "env=moon", "{}", 400, "env"},
		"wrong format":           {"loadruns", "format=k6-ndjson", string(fixture(t, "k6/mixed-summary-export.json")), 400, "body"},
		"unknown format":         {"loadruns", "format=jmeter", "{}", 400, "format"},
		// Half a stream ending in a broken sample: nothing of it may be published.
		"broken ndjson": {"loadruns", "", string(cut), 400, "body"},
	} {
		t.Run(name, func(t *testing.T) {
			status, out := collecttest.Post(t, srv.URL+"/v1/"+c.endpoint+"?"+c.query, []byte(c.body))
			var e struct{ Field, Error string }
			_ = json.Unmarshal(out, &e)
			if status != c.status || e.Field != c.field || e.Error == "" {
				t.Errorf("got %d %s, want %d naming %q", status, out, c.status, c.field)
			}
		})
	}
	if evs := natstest.Published(t, b); len(evs) != 0 {
		t.Errorf("%d events published from rejected input", len(evs))
	}
}

func TestConfigValidate(t *testing.T) {
	c := testConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	c.Steps.MinSeconds, c.Steps.KneeEfficiency, c.Steps.SaturationRatio, c.MaxDocumentBytes = 0, 1, 1, 0
	err := c.Validate()
	for _, key := range []string{"steps.min_seconds", "steps.knee_efficiency", "steps.saturation_ratio", "max_document_bytes"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate() = %v, want it to name %s", err, key)
		}
	}
	if _, err := New(c, collect.Settings{}); err == nil {
		t.Error("New accepted an invalid config")
	}
}

func TestBodyPastLimitIs413(t *testing.T) {
	b := natstest.Bus(t)
	c, err := New(testConfig(), collect.Settings{Publisher: b, Limits: collect.Limits{MaxBodyBytes: 4096, MaxDecodedBytes: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, f := range []string{"k6/mixed-summary-export.json", "k6/stepped.ndjson.gz", lighthouseRuns[0]} {
		endpoint := "loadruns"
		if strings.HasPrefix(f, "lighthouse") {
			endpoint = "webvitals"
		}
		if status, out := collecttest.Post(t, srv.URL+"/v1/"+endpoint, fixture(t, f)); status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: %d %s, want 413", f, status, out)
		}
	}
	if evs := natstest.Published(t, b); len(evs) != 0 {
		t.Errorf("%d events published from truncated bodies", len(evs))
	}
}

// A gzipped k6 stream (k6 --out json=run.ndjson.gz) sent gzipped again, as
// trilens submit does, decodes like the plain one.
func TestDoublyGzippedNDJSON(t *testing.T) {
	b := natstest.Bus(t)
	srv := startServer(t, b)
	inner, err := os.ReadFile(filepath.Join("testdata", "k6", "stepped.ndjson.gz"))
	if err != nil {
		t.Fatal(err)
	}
	var outer bytes.Buffer
	zw := gzip.NewWriter(&outer)
	_, _ = zw.Write(inner)
	_ = zw.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/loadruns?test=steps", bytes.NewReader(outer.Bytes()))
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var r Response
	_ = json.Unmarshal(out, &r)
	if resp.StatusCode != http.StatusAccepted || r.Format != FormatNDJSON || r.Rows != 2+7 {
		t.Errorf("%d %s: want the stepped run (9 rows)", resp.StatusCode, out)
	}
	// The inner stream is bounded too: 226 kB of gzip inside the 1 MB limit,
	// 8 MB of NDJSON inside that.
	c, err := New(testConfig(), collect.Settings{Publisher: b, Limits: collect.Limits{MaxBodyBytes: 1 << 20, MaxDecodedBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Register(mux)
	small := httptest.NewServer(mux)
	defer small.Close()
	if status, out := collecttest.Post(t, small.URL+"/v1/loadruns", outer.Bytes()); status != http.StatusRequestEntityTooLarge {
		t.Errorf("8 MB inside a 1 MB limit: %d %s, want 413", status, out)
	}
}
