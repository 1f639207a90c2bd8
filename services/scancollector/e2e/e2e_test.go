// Package e2e runs the scan lens end to end: every real report of
// ../testdata/real posted over HTTP to the collector, through a real
// JetStream, into the scorer and a real ClickHouse, and checks what is
// stored against the counts ../testdata/real/expect.go computed from the
// files.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	"github.com/trilens/trilens/services/scancollector"
	"github.com/trilens/trilens/services/scorer"
)

func TestMain(m *testing.M) { os.Exit(chtest.Run(m, natstest.LeakOptions()...)) }

type rig struct {
	url   string
	store *store.Store
}

func newRig(t *testing.T) *rig {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	b := natstest.Bus(t)
	st := chtest.Store(t)
	pol, err := policy.Parse([]byte("version: 1\n"), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sc scorer.Config
	sc.RegisterFlags("", flag.NewFlagSet("s", flag.ContinueOnError))
	sc.BatchWait = 100 * time.Millisecond
	s, err := scorer.New(sc, scorer.Settings{Logger: log, Bus: b, Store: st, Policy: pol, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var cc scancollector.Config
	cc.RegisterFlags("", flag.NewFlagSet("c", flag.ContinueOnError))
	cc.TempDir = t.TempDir()
	c, err := scancollector.New(cc, collect.Settings{Logger: log, Publisher: b, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Register(mux)
	s.Register(mux) // the scorer's API beside the collector's
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("stop scorer: %v", err)
		}
		_ = b.Close()
	})
	return &rig{url: srv.URL, store: st}
}

type expectation struct {
	Format     string `json:"format"`
	Detectable bool   `json:"detectable"`
	Findings   int    `json:"findings"`
	Runs       int    `json:"runs"`
}

func (r *rig) count(t *testing.T, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := r.store.Conn().QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// Every real report, detected by the collector (empty ones named with
// ?format=), is stored by the scorer with as many findings as the file holds.
func TestRealReportsEndToEnd(t *testing.T) {
	r := newRig(t)
	db := r.store.Database()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "real", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Files map[string]expectation `json:"files"`
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	perFormat := map[string]int{}
	for name, want := range exp.Files {
		doc, err := os.ReadFile(filepath.Join("..", "testdata", "real", name))
		if err != nil {
			t.Fatal(err)
		}
		// Each file is its own repository, so no report's lifecycle touches another's.
		q := url.Values{"repo": {"real/" + name}, "commit": {"c0ffee"}, "branch": {"main"}}
		if !want.Detectable {
			q.Set("format", want.Format)
		}
		resp, err := http.Post(r.url+"/v1/scans?"+q.Encode(), "application/octet-stream", bytes.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Errorf("%s: %d %s", name, resp.StatusCode, out)
			continue
		}
		var acc scancollector.Accepted
		if err := json.Unmarshal(out, &acc); err != nil {
			t.Fatal(err)
		}
		if acc.Format != want.Format || acc.Rows != want.Findings {
			t.Errorf("%s: accepted as %s with %d findings, want %s with %d", name, acc.Format, acc.Rows, want.Format, want.Findings)
		}
		if want.Runs == 0 {
			// A SARIF log without runs names no tool: nothing to score.
			if acc.Events != 0 {
				t.Errorf("%s: %d events from a log without runs", name, acc.Events)
			}
			continue
		}
		perFormat[want.Format]++
		deadline := time.Now().Add(time.Minute)
		for r.count(t, "SELECT count() FROM "+db+".scan_reports_scored FINAL WHERE report_id = ?", acc.ReportID) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: report %s not scored after a minute", name, acc.ReportID)
			}
			time.Sleep(20 * time.Millisecond)
		}
		stored := r.count(t, "SELECT count() FROM "+db+".scan_report_findings FINAL WHERE report_id = ?", acc.ReportID)
		parts := r.count(t, "SELECT count() FROM "+db+".scan_report_parts FINAL WHERE report_id = ?", acc.ReportID)
		if int(stored) != want.Findings || int(parts) != acc.Events {
			t.Errorf("%s: stored %d findings in %d parts, want %d in %d", name, stored, parts, want.Findings, acc.Events)
		}
	}
	for _, f := range scancollector.Formats {
		if perFormat[f] == 0 {
			t.Errorf("no %s report went end to end", f)
		}
	}
	t.Logf("reports stored per format: %s", strings.TrimSpace(fmt.Sprint(perFormat)))
}
